/* The key file (api/auth.c) under fault injection: issue 10 asks that every
 * durable file go through fsx so the fault tests reach it. A failed save of
 * a new or revoked key must return the fault's code, leave the file on disk
 * as it was (the old keys still load, the failed change is not there) and
 * leave the open table as it was; with the fault gone the same change
 * succeeds. Also the constructor's codes, which come back without an error
 * record. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/auth.h"
#include "core/err.h"
#include "core/fsx.h"
#include "store_testutil.h"

/* Every save step that fails before the rename: the file stays the old
 * one. (A failed directory fsync comes after the rename: checked apart.) */
static const struct {
    unsigned mask;
    vdb_fsx_fault kind;
    int want;
} before_rename[] = {
    {VDB_FSX_WRITE, VDB_FSX_FAULT_EIO, VDB_EIO},
    {VDB_FSX_WRITE, VDB_FSX_FAULT_ENOSPC, VDB_ENOSPC},
    {VDB_FSX_WRITE, VDB_FSX_FAULT_SHORT, VDB_EIO},
    {VDB_FSX_FSYNC, VDB_FSX_FAULT_EIO, VDB_EIO},
    {VDB_FSX_RENAME, VDB_FSX_FAULT_EIO, VDB_EIO},
};

static int is_user(vdb_auth *auth, const char *key, const char *user)
{
    vdb_principal who;
    return vdb_auth_check(auth, key, &who) == VDB_OK && who.role == VDB_ROLE_USER &&
           strcmp(who.user_id, user) == 0;
}

static void count_key(void *ctx, const char *key_id, const char *user_id, long long created)
{
    (void)key_id, (void)user_id, (void)created;
    (*(size_t *)ctx)++;
}

/* Keys `user` holds in `auth`. */
static size_t keys_of(vdb_auth *auth, const char *user)
{
    size_t n = 0;
    vdb_auth_list(auth, user, count_key, &n);
    return n;
}

/* A fresh table from the file alone (as another process would see it). */
static vdb_auth *reopen(const char *dir)
{
    vdb_auth *auth = NULL;
    assert_int_equal(vdb_auth_open(dir, NULL, NULL, NULL, &auth, NULL), VDB_OK);
    assert_non_null(auth);
    return auth;
}

static void test_create_and_revoke_under_faults(void **state)
{
    char dir[512], generated[VDB_AUTH_KEY_MAX], alice[VDB_AUTH_KEY_MAX], bob[VDB_AUTH_KEY_MAX];
    char alice_id[17], bob_id[17];
    vdb_auth *auth = NULL;
    vdb_error err;
    (void)state;
    tu_tmpdir(dir, sizeof(dir), "auth");
    assert_int_equal(vdb_auth_open(dir, NULL, NULL, generated, &auth, &err), VDB_OK);
    assert_true(generated[0] != '\0');
    assert_int_equal(vdb_auth_create_key(auth, "alice", alice, alice_id, &err), VDB_OK);
    for (size_t i = 0; i < sizeof(before_rename) / sizeof(before_rename[0]); i++) {
        uint64_t hits = vdb_fsx_fault_hits();
        vdb_fsx_fault_set(before_rename[i].mask, 1, before_rename[i].kind, 0);
        int rc = vdb_auth_create_key(auth, "bob", bob, bob_id, &err);
        vdb_fsx_fault_set(0, 0, VDB_FSX_FAULT_EIO, 0);
        assert_int_equal(rc, before_rename[i].want);
        assert_true(vdb_fsx_fault_hits() > hits);
        assert_string_equal(bob, ""); /* no key handed out */
        assert_int_equal(keys_of(auth, "bob"), 0);
        vdb_auth *disk = reopen(dir);
        assert_true(is_user(disk, alice, "alice"));
        assert_int_equal(keys_of(disk, "bob"), 0);
        vdb_auth_free(disk);

        /* Revoking alice fails the same way and she keeps her key, in the
         * open table and on disk. */
        size_t revoked = 99;
        hits = vdb_fsx_fault_hits();
        vdb_fsx_fault_set(before_rename[i].mask, 1, before_rename[i].kind, 0);
        rc = vdb_auth_revoke(auth, alice_id, NULL, &revoked, NULL);
        vdb_fsx_fault_set(0, 0, VDB_FSX_FAULT_EIO, 0);
        assert_int_equal(rc, before_rename[i].want);
        assert_true(vdb_fsx_fault_hits() > hits);
        assert_true(is_user(auth, alice, "alice"));
        disk = reopen(dir);
        assert_true(is_user(disk, alice, "alice"));
        vdb_auth_free(disk);
    }
    /* A failed directory fsync is reported; the rename has happened, so the
     * file holds the old table or the new one, and it stays loadable. */
    vdb_fsx_fault_set(VDB_FSX_DIRSYNC, 1, VDB_FSX_FAULT_EIO, 0);
    assert_int_equal(vdb_auth_create_key(auth, "carol", bob, bob_id, &err), VDB_EIO);
    vdb_fsx_fault_set(0, 0, VDB_FSX_FAULT_EIO, 0);
    vdb_auth *disk = reopen(dir);
    assert_true(is_user(disk, alice, "alice"));
    vdb_auth_free(disk);
    /* With the fault gone the change goes through and persists. */
    assert_int_equal(vdb_auth_create_key(auth, "bob", bob, bob_id, &err), VDB_OK);
    disk = reopen(dir);
    assert_true(is_user(disk, bob, "bob"));
    assert_true(is_user(disk, alice, "alice"));
    vdb_auth_free(disk);
    vdb_auth_free(auth);
    tu_rm_rf(dir);
}

/* A kill -9 at each I/O operation of a key creation (fsx's crash fault:
 * a write lands half its bytes first): after each, the key file loads
 * and holds the old table (no key for bob) or the new one (bob's key),
 * never a torn file, and alice's key always works. A save that wrote the
 * file in place would leave half a file at the crash during its write,
 * which does not load. */
static void test_crash_points(void **state)
{
    char dir[512], alice[VDB_AUTH_KEY_MAX], alice_id[17];
    vdb_auth *auth = NULL;
    int saw_old = 0, saw_new = 0;
    (void)state;
    tu_tmpdir(dir, sizeof(dir), "auth-crash");
    assert_int_equal(vdb_auth_open(dir, NULL, NULL, NULL, &auth, NULL), VDB_OK);
    assert_int_equal(vdb_auth_create_key(auth, "alice", alice, alice_id, NULL), VDB_OK);
    vdb_auth_free(auth);
    for (uint64_t nth = 1; nth < 100; nth++) {
        int status;
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            char key[VDB_AUTH_KEY_MAX], id[17];
            vdb_auth *child = NULL;
            if (vdb_auth_open(dir, NULL, NULL, NULL, &child, NULL) != VDB_OK)
                _exit(2);
            vdb_fsx_fault_set(VDB_FSX_ALL, nth, VDB_FSX_FAULT_CRASH, 0);
            _exit(vdb_auth_create_key(child, "bob", key, id, NULL) == VDB_OK ? 0 : 3);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        vdb_auth *disk = reopen(dir);
        assert_true(is_user(disk, alice, "alice"));
        size_t bobs = keys_of(disk, "bob");
        assert_true(bobs <= 1);
        vdb_auth_free(disk);
        if (WIFEXITED(status)) {
            /* The save ran to the end: every earlier operation was a crash
             * point, and the table now has bob's key. */
            assert_int_equal(WEXITSTATUS(status), 0);
            assert_int_equal(bobs, 1);
            assert_true(saw_old > 0);
            print_message("key file survived SIGKILL at each of its %llu I/O operations "
                          "(%d left the old table, %d the new)\n",
                          (unsigned long long)(nth - 1), saw_old, saw_new);
            tu_rm_rf(dir);
            return;
        }
        assert_int_equal(WTERMSIG(status), SIGKILL);
        if (bobs == 1) {
            saw_new++;
            /* Back to one key for the next crash point. */
            vdb_auth *a = reopen(dir);
            size_t revoked = 0;
            assert_int_equal(vdb_auth_revoke(a, NULL, "bob", &revoked, NULL), VDB_OK);
            vdb_auth_free(a);
        } else {
            saw_old++;
        }
    }
    fail_msg("the key creation never completed");
}

/* The constructor's codes come back as the result, with or without an
 * error record, and *out is NULL on failure. */
/* A key written by another process (here: a second table on the same
 * directory, as `vdb keys` or the cluster's keys.sh) is accepted by an
 * open table at its first use, not up to a second later: the test checks
 * the new key right after the open table has looked at the file, inside
 * the one-second window in which it would not look again. (CI saw a 401
 * through the cluster proxy for a key created a moment before.) An
 * unknown key is still refused. */
static void test_new_key_from_elsewhere_at_once(void **state)
{
    char dir[512], alice[VDB_AUTH_KEY_MAX], bob[VDB_AUTH_KEY_MAX], id[17];
    vdb_error err;
    (void)state;
    tu_tmpdir(dir, sizeof(dir), "auth-elsewhere");
    vdb_auth *server = reopen(dir);
    vdb_auth *tool = reopen(dir);
    assert_int_equal(vdb_auth_create_key(tool, "alice", alice, id, &err), VDB_OK);
    assert_true(is_user(server, alice, "alice"));
    assert_int_equal(vdb_auth_create_key(tool, "bob", bob, id, &err), VDB_OK);
    assert_true(is_user(server, bob, "bob"));
    assert_true(is_user(server, alice, "alice"));
    vdb_principal who;
    assert_int_equal(vdb_auth_check(server, "vdb_not_a_key", &who), VDB_EAUTH);
    assert_int_equal(who.role, VDB_ROLE_NONE);
    vdb_auth_free(tool);
    vdb_auth_free(server);
    tu_rm_rf(dir);
}

static void test_open_codes(void **state)
{
    char dir[512], path[600];
    static const char *const bad[] = {"{", "[1]", "\"keys\""};
    vdb_auth *auth;
    vdb_error err;
    (void)state;
    tu_tmpdir(dir, sizeof(dir), "auth-open");
    tu_path(path, sizeof(path), dir, ".vdb_auth.json");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(tu_spit(path, bad[i], strlen(bad[i])), 0);
        auth = (vdb_auth *)(void *)&err;
        assert_int_equal(vdb_auth_open(dir, NULL, NULL, NULL, &auth, &err), VDB_ECORRUPT);
        assert_null(auth);
        assert_int_equal(vdb_auth_open(dir, NULL, NULL, NULL, &auth, NULL), VDB_ECORRUPT);
    }
    /* Writing a generated admin key into a directory that cannot take it. */
    unlink(path);
    vdb_fsx_fault_set(VDB_FSX_WRITE, 1, VDB_FSX_FAULT_ENOSPC, 0);
    char generated[VDB_AUTH_KEY_MAX];
    int rc = vdb_auth_open(dir, NULL, NULL, generated, &auth, NULL);
    vdb_fsx_fault_set(0, 0, VDB_FSX_FAULT_EIO, 0);
    assert_int_equal(rc, VDB_ENOSPC);
    assert_null(auth);
    tu_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_revoke_under_faults),
        cmocka_unit_test(test_open_codes),
        cmocka_unit_test(test_new_key_from_elsewhere_at_once),
        cmocka_unit_test(test_crash_points),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
