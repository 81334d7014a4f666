//! Files and folders tokend creates are readable by its user only (SPEC §7):
//! `data/`, the SQLite database (SQLite gives its `-wal` and `-shm` files the
//! database file's mode) and `keys/`. Folders that already exist are left as
//! the operator made them.

use std::io;
use std::path::Path;

/// `mkdir -p` with mode 0700 for every folder it creates.
pub fn create_private_dirs(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates `file` empty with mode 0600 unless it exists.
pub fn create_private_file(file: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_folders_and_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/data");
        create_private_dirs(&data).unwrap();
        let file = data.join("tokend.db");
        create_private_file(&file).unwrap();
        for (path, mode) in [(dir.path().join("a"), 0o700), (data, 0o700), (file, 0o600)] {
            let got = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(got, mode, "{}", path.display());
        }
    }
}
