//! From a verified workload identity to the one client it becomes: the
//! provider's bindings that match it, and the choice among them (SPEC §8).

use super::{FederatedIdentity, FederationError, Provider, refused};
use crate::domain::Binding;
use crate::oauth::client_directory::{CachedClient, ClientDirectory};
use std::sync::Arc;

impl Provider {
    /// The bindings that match the identity, with why each other binding of
    /// the provider does not.
    pub fn matching_bindings(
        &self,
        identity: &FederatedIdentity,
    ) -> (Vec<&Binding>, Vec<(&Binding, String)>) {
        let mut matching = Vec::new();
        let mut other = Vec::new();
        for b in &self.bindings {
            match b.check(&identity.subject, &identity.claims) {
                Ok(()) => matching.push(b),
                Err(why) => other.push((b, why)),
            }
        }
        (matching, other)
    }

    /// The one client the identity becomes: `client_id` picks among several
    /// bindings; the client must exist and be enabled.
    pub fn choose_client(
        &self,
        identity: &FederatedIdentity,
        client_id: Option<&str>,
        clients: &ClientDirectory,
    ) -> Result<Arc<CachedClient>, FederationError> {
        let (matching, other) = self.matching_bindings(identity);
        let name = &self.config.name;
        let subject = &identity.subject;
        let chosen = match client_id {
            Some(id) => {
                if matching.iter().any(|b| b.client_id.as_str() == id) {
                    id.to_owned()
                } else {
                    let why = other
                        .iter()
                        .find(|(b, _)| b.client_id.as_str() == id)
                        .map(|(_, why)| format!(" ({why})"))
                        .unwrap_or_else(|| format!(" (client {id} has no binding to {name})"));
                    return Err(refused(format!(
                        "no binding of client {id} matches subject {subject} of trust provider {name}{why}"
                    )));
                }
            }
            None => {
                let mut ids: Vec<&str> = matching.iter().map(|b| b.client_id.as_str()).collect();
                ids.sort_unstable();
                ids.dedup();
                match ids.as_slice() {
                    [one] => (*one).to_owned(),
                    [] => {
                        return Err(refused(format!(
                            "no binding of trust provider {name} matches subject {subject}"
                        )));
                    }
                    many => {
                        return Err(refused(format!(
                            "subject {subject} is bound to several clients ({}): send client_id",
                            many.join(", ")
                        )));
                    }
                }
            }
        };
        let client = clients
            .get(&chosen)
            .ok_or_else(|| refused(format!("the bound client {chosen} does not exist")))?;
        if !client.client.enabled {
            return Err(refused(format!("client {chosen} is disabled")));
        }
        Ok(client)
    }
}
