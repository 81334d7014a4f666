"""Adds N filler clients to a tokend SQLite database (tokend stopped), copies
of an existing client under new ids, in one transaction. benches/load.sh uses
it for the scale run: throughput with 1,000,000 registered clients.

    python3 benches/fill_clients.py DB_PATH TEMPLATE_CLIENT_ID N
"""
import sqlite3
import sys

path, template, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
db = sqlite3.connect(path)
cols = [r[1] for r in db.execute("PRAGMA table_info(clients)")]
row = db.execute(f"SELECT {', '.join(cols)} FROM clients WHERE client_id = ?", (template,)).fetchone()
if row is None:
    sys.exit(f"no client {template!r} in {path}")
i_id, i_name = cols.index("client_id"), cols.index("name")


def rows():
    for i in range(n):
        r = list(row)
        r[i_id] = r[i_name] = f"filler-{i:07d}"
        yield r


with db:
    db.executemany(f"INSERT INTO clients ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows())
print(db.execute("SELECT COUNT(*) FROM clients").fetchone()[0])
