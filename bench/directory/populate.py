"""Grows a Tessera directory to USERS generated users, writing rows directly (bench/directory/scale.sh).

Every generated user, bench-u<N>@contoso.com, is active, has acknowledged the password notice,
is a member of the group Staff and has the password hash of alice@contoso.com: one real
argon2id hash, made by `tessera user add`, copied (a million real hashes would take hours).
Their ImmutableIDs are the base64 of fresh GUIDs, as `user add` makes them. With --sessions M, M generated users spread evenly over the whole directory each get one complete
session more, with the factors of alice's own session (signed in through the form first); the
new sessions' cookie values go to --cookies, one a line.

Usage: populate.py (--sqlite PATH | --postgres DATABASE) --users N [--sessions M --cookies FILE]
Run again with a larger N to grow the same directory.
"""
import argparse, base64, csv, hashlib, io, secrets, sqlite3, subprocess, sys, time, uuid

parser = argparse.ArgumentParser()
where = parser.add_mutually_exclusive_group(required=True)
where.add_argument("--sqlite")
where.add_argument("--postgres", help="a database name on 127.0.0.1:5432")
parser.add_argument("--users", type=int, required=True)
parser.add_argument("--sessions", type=int, default=0)
parser.add_argument("--cookies")
args = parser.parse_args()
if args.sessions and not args.cookies:
    sys.exit("--sessions needs --cookies")
if args.sessions > args.users:
    sys.exit("--sessions cannot exceed --users")
if args.users < 1:
    sys.exit("--users must be at least 1")

TEMPLATE = "alice@contoso.com"
now = int(time.time() * 1000)


class Sqlite:
    def __init__(self, path):
        self.db = sqlite3.connect(path)

    def one(self, sql, *params):
        return self.db.execute(sql.replace("$", "?"), params).fetchone()

    def copy(self, table, columns, rows):
        marks = ", ".join("?" * len(columns))
        self.db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def commit(self):
        self.db.commit()


class Postgres:
    def __init__(self, name):
        self.name = name

    def psql(self, *extra, input=None):
        out = subprocess.run(["psql", "-h", "127.0.0.1", "-d", self.name, "-v", "ON_ERROR_STOP=1", "-qAt", *extra],
                             input=input, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"psql: {out.stderr.strip()}")
        return out.stdout

    def one(self, sql, *params):
        for n, value in enumerate(params, 1):
            sql = sql.replace(f"${n}", "'" + str(value).replace("'", "''") + "'")
        line = self.psql("-F", "\t", "-c", sql).rstrip("\n")
        return tuple(line.split("\t")) if line else None

    def copy(self, table, columns, rows):
        text = io.StringIO()
        csv.writer(text).writerows([("t" if v is True else "f" if v is False else v) for v in row] for row in rows)
        self.psql("-c", f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", input=text.getvalue())

    def commit(self):
        pass


store = Sqlite(args.sqlite) if args.sqlite else Postgres(args.postgres)
template = store.one("SELECT id, password_hash FROM users WHERE email = $1", TEMPLATE)
group = store.one("SELECT id FROM user_groups WHERE name = 'Staff'")
if not template or not template[1] or not group:
    sys.exit(f"the directory needs {TEMPLATE} with a password and the group Staff (bench_start makes them)")
have = int(store.one("SELECT count(*) FROM users WHERE email LIKE 'bench-u%'")[0])
started = time.monotonic()
chunk = 50_000
for first in range(have, args.users, chunk):
    numbers = range(first, min(first + chunk, args.users))
    ids = [str(uuid.uuid4()) for _ in numbers]
    users = [(user_id, f"bench-u{n}@contoso.com", f"bench-u{n}@contoso.com", "Bench", f"User {n}",
              base64.b64encode(uuid.uuid4().bytes).decode(), "active", template[1], now, now, now)
             for n, user_id in zip(numbers, ids)]
    store.copy("users", ["id", "email", "upn", "first_name", "last_name", "immutable_id", "state", "password_hash",
                         "created_at", "updated_at", "notice_acknowledged_at"], users)
    store.copy("memberships", ["group_id", "user_id", "created_at"], [(group[0], user_id, now) for user_id in ids])
    store.commit()
print(f"{args.users - have if args.users > have else 0} users written in {time.monotonic() - started:.1f} s; "
      f"{max(have, args.users)} generated users in all", flush=True)

if args.sessions:
    found = store.one("SELECT factors, expires_at - created_at FROM sessions WHERE user_id = $1 AND complete "
                      "ORDER BY created_at DESC", template[0])
    if not found:
        sys.exit(f"{TEMPLATE} has no complete session to copy (bench_sign_in makes one)")
    factors, lifetime = found[0], int(found[1])
    started = time.monotonic()
    # One query for every generated user's id, not one a session.
    query = "SELECT email, id FROM users WHERE email LIKE 'bench-u%'"
    if args.sqlite:
        ids = dict(store.db.execute(query))
    else:
        ids = dict(line.split("\t") for line in store.psql("-F", "\t", "-c", query).splitlines())
    cookies = [secrets.token_urlsafe(32) for _ in range(args.sessions)]
    total = len(ids)
    rows = [(hashlib.sha256(cookie.encode()).hexdigest(), ids[f"bench-u{i * total // args.sessions}@contoso.com"],
             factors, True, now, now, now + lifetime) for i, cookie in enumerate(cookies)]
    store.copy("sessions", ["id_hash", "user_id", "factors", "complete", "created_at", "last_seen_at", "expires_at"], rows)
    store.commit()
    with open(args.cookies, "w") as out:
        out.write("\n".join(cookies) + "\n")
    print(f"{args.sessions} sessions written in {time.monotonic() - started:.1f} s", flush=True)
