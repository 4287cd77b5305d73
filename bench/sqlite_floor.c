/* The least a hook that keeps its events in SQLite can do: open the store (WAL, synchronous=FULL,
 * 16 KiB pages, no checkpoint on close, as flightlog's store is set up), read the payload on
 * stdin, insert it as one row in one write transaction, commit (one fsync of the WAL), exit.
 * No chain, no redaction, no signature, no parsing. bench/ratios.sh compiles it against the
 * SQLite amalgamation that rusqlite bundles (same version, same -DSQLITE_DISABLE_DIRSYNC as
 * .cargo/config.toml) and times it beside `flightlog hook`: the difference between the two is
 * what flightlog's own work costs, the difference between this and bench/hook_floor.c what a
 * SQLite store costs.
 *
 *   sqlite_floor DB < payload
 */
#include <stdio.h>
#include <unistd.h>

#include "sqlite3.h"

static int fail(sqlite3 *db) {
    fprintf(stderr, "sqlite_floor: %s\n", db ? sqlite3_errmsg(db) : "out of memory");
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    static char buf[1 << 20];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf && (n = read(0, buf + len, sizeof buf - len)) > 0) len += (size_t)n;

    sqlite3 *db = NULL;
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
        return fail(db);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)0);
    if (sqlite3_exec(db,
                     "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                     "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, body BLOB NOT NULL);",
                     NULL, NULL, NULL) != SQLITE_OK)
        return fail(db);
    sqlite3_stmt *ins = NULL;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO events (body) VALUES (?1)", -1, &ins, NULL) != SQLITE_OK ||
        sqlite3_bind_blob(ins, 1, buf, (int)len, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(ins) != SQLITE_DONE || sqlite3_finalize(ins) != SQLITE_OK ||
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        return fail(db);
    return sqlite3_close(db) != SQLITE_OK;
}
