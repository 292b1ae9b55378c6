#include "otp/guesses.h"

#include "captcha/captcha.h"
#include "pg/guard.h"
#include "settings.h"

extern "C" {
#include "access/htup_details.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"
#include "utils/inet.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
}

#include <sys/socket.h>

#include <cstring>

namespace sms_otp::otp {

namespace {

// guesses: kSession and kUser; refusals (CAPTCHA tokens not passed): kUser and kNet.
enum Kind : uint8 { kSession = 1, kUser = 2, kNet = 3 };

struct Key {
    Oid db;  // refusals: the database (each counts its own); guesses: 0 (sessions and users are uuids)
    uint8 kind;
    unsigned char id[UUID_LEN];
};

struct Entry {
    Key key;                   // first: the hash table's key
    int32 count;               // session: wrong codes; user: failures since the last lockout or
                               // success; refusals: tokens taken in and not passed this minute
    TimestampTz locked_until;  // user: 0 when not locked; refusals: the end of the count's minute
    TimestampTz touched;       // the least recently touched entries make room when the table is full
};

// Two tables, each with its lock: a flood of refused tokens from many addresses makes room
// among refusals only, never among the wrong codes, and waits on no otp_verify.
HTAB *table = nullptr;
HTAB *refusals = nullptr;
LWLock *lock = nullptr;
LWLock *refusal_lock = nullptr;
shmem_request_hook_type prev_request_hook = nullptr;
shmem_startup_hook_type prev_startup_hook = nullptr;

long capacity() { return static_cast<long>(settings::guess_slots) * 2; }
long refusal_capacity() { return static_cast<long>(settings::guess_slots); }

void on_request() {
    if (prev_request_hook) prev_request_hook();
    RequestAddinShmemSpace(hash_estimate_size(capacity(), sizeof(Entry)));
    RequestAddinShmemSpace(hash_estimate_size(refusal_capacity(), sizeof(Entry)));
    RequestNamedLWLockTranche("sms_otp_guesses", 1);
    RequestNamedLWLockTranche("sms_otp_captcha_refusals", 1);
}

HTAB *init_table(const char *name, long size) {
    HASHCTL info;
    std::memset(&info, 0, sizeof(info));
    info.keysize = sizeof(Key);
    info.entrysize = sizeof(Entry);
    return ShmemInitHash(name, size, size, &info, HASH_ELEM | HASH_BLOBS);
}

void on_startup() {
    if (prev_startup_hook) prev_startup_hook();
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    table = init_table("sms_otp guesses", capacity());
    refusals = init_table("sms_otp captcha refusals", refusal_capacity());
    lock = &(GetNamedLWLockTranche("sms_otp_guesses"))->lock;
    refusal_lock = &(GetNamedLWLockTranche("sms_otp_captcha_refusals"))->lock;
    LWLockRelease(AddinShmemInitLock);
}

Key make_key(Kind kind, const pg_uuid_t *id) {
    Key k;
    std::memset(&k, 0, sizeof(k));
    k.kind = kind;
    std::memcpy(k.id, id->data, UUID_LEN);
    return k;
}

// The address of a client network (a cidr, as otp_send groups addresses) as a key of this
// database: IPv4 as an IPv4-mapped IPv6 address (the same host either way).
Key make_net_key(const inet *net) {
    Key k;
    std::memset(&k, 0, sizeof(k));
    k.db = MyDatabaseId;
    k.kind = kNet;
    if (ip_family(net) == PGSQL_AF_INET) {
        k.id[10] = 0xff;
        k.id[11] = 0xff;
        std::memcpy(k.id + 12, ip_addr(net), 4);
    } else {
        std::memcpy(k.id, ip_addr(net), 16);
    }
    return k;
}

struct Table {
    HTAB *tab;
    long size;
    int batch;      // how many least recently touched entries one pass removes
    bool expires;   // refusals: an entry whose minute is over is worth nothing
    const char *what;
};
Table guesses_table() { return {table, capacity(), 1, false, "wrong codes"}; }
Table refusals_table() { return {refusals, refusal_capacity(), 32, true, "CAPTCHA refusals"}; }

constexpr int kMaxBatch = 32;

// Room in a full table, in one pass: every entry whose minute is over goes (t.expires); when
// none was, the t.batch least recently touched go. Called with the table's lock held.
void make_room(const Table &t, TimestampTz now) {
    Key oldest[kMaxBatch];
    TimestampTz when[kMaxBatch];
    int n = 0;
    long expired = 0;
    HASH_SEQ_STATUS scan;
    hash_seq_init(&scan, t.tab);
    while (Entry *x = static_cast<Entry *>(hash_seq_search(&scan))) {
        if (t.expires && x->locked_until <= now) {
            hash_search(t.tab, &x->key, HASH_REMOVE, nullptr);  // the scan's current entry: allowed
            expired++;
            continue;
        }
        if (n < t.batch) {
            oldest[n] = x->key;
            when[n++] = x->touched;
            continue;
        }
        int newest = 0;
        for (int i = 1; i < n; i++)
            if (when[i] > when[newest]) newest = i;
        if (x->touched < when[newest]) {
            oldest[newest] = x->key;
            when[newest] = x->touched;
        }
    }
    if (expired == 0)
        for (int i = 0; i < n; i++) hash_search(t.tab, &oldest[i], HASH_REMOVE, nullptr);
}

// The entry for key in t, made when missing (fresh: *created is set). A table never grows
// past its size (make_room). Called with the table's lock held.
Entry *find_in(const Table &t, const Key &key, bool create, bool *created) {
    *created = false;
    Entry *e = static_cast<Entry *>(hash_search(t.tab, &key, HASH_FIND, nullptr));
    if (e || !create) return e;
    if (hash_get_num_entries(t.tab) >= t.size) make_room(t, GetCurrentTimestamp());
    bool found = false;
    e = static_cast<Entry *>(hash_search(t.tab, &key, HASH_ENTER_NULL, &found));
    if (!e) ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("sms_otp: no room to count %s", t.what)));
    e->count = 0;
    e->locked_until = 0;
    *created = true;
    return e;
}

Entry *find(const Key &key, bool create, bool *created) { return find_in(guesses_table(), key, create, created); }

struct State {
    bool has_attempts = false;
    int32 attempts = 0;
    int32 failures = 0;
    TimestampTz locked_until = 0;
};

// (attempts, failures, locked_until) as sms_otp._guesses.
Datum result(FunctionCallInfo fcinfo, const State &s) {
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("sms_otp._guesses expected")));
    desc = BlessTupleDesc(desc);
    Datum values[3] = {Int32GetDatum(s.attempts), Int32GetDatum(s.failures), TimestampTzGetDatum(s.locked_until)};
    bool nulls[3] = {!s.has_attempts, false, s.locked_until == 0};
    return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

}  // namespace

void request_guess_memory() {
    prev_request_hook = shmem_request_hook;
    shmem_request_hook = on_request;
    prev_startup_hook = shmem_startup_hook;
    shmem_startup_hook = on_startup;
}

}  // namespace sms_otp::otp

using sms_otp::pg::entry;
using sms_otp::pg::pg_call;
using namespace sms_otp::otp;

extern "C" {

PG_FUNCTION_INFO_V1(sms_otp_guess_check);
PG_FUNCTION_INFO_V1(sms_otp_guess_wrong);
PG_FUNCTION_INFO_V1(sms_otp_guess_forget);
PG_FUNCTION_INFO_V1(sms_otp_captcha_take);
PG_FUNCTION_INFO_V1(sms_otp_captcha_give_back);

// _guess_check(session, attempts, uid, failures, locked_until): the effective state. With a
// session, both entries are made (from the tables' numbers) so that later wrong codes count
// from there; without one, the user's entry is only read.
Datum sms_otp_guess_check(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        if (!table || PG_ARGISNULL(2)) PG_RETURN_NULL();
        return pg_call([&] {
            State s;
            bool with_session = !PG_ARGISNULL(0);
            int32 table_attempts = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1);
            s.failures = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3);
            s.locked_until = PG_ARGISNULL(4) ? 0 : PG_GETARG_TIMESTAMPTZ(4);
            TimestampTz now = GetCurrentTimestamp();
            bool created;
            LWLockAcquire(lock, LW_EXCLUSIVE);
            if (with_session) {
                Entry *e = find(make_key(kSession, PG_GETARG_UUID_P(0)), true, &created);
                e->count = std::max(e->count, table_attempts);
                e->touched = now;
                s.has_attempts = true;
                s.attempts = e->count;
            }
            if (Entry *u = find(make_key(kUser, PG_GETARG_UUID_P(2)), with_session, &created)) {
                if (created) {
                    u->count = s.failures;
                    u->locked_until = s.locked_until;
                }
                u->locked_until = std::max(u->locked_until, s.locked_until);
                u->touched = now;
                s.failures = u->count;
                s.locked_until = u->locked_until;
            }
            LWLockRelease(lock);
            return result(fcinfo, s);
        });
    });
}

// _guess_wrong(session, uid, lockout_threshold, lockout_duration): one more wrong code.
Datum sms_otp_guess_wrong(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        if (!table)
            throw sms_otp::pg::Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                                     "sms_otp must be loaded through shared_preload_libraries to count wrong codes");
        return pg_call([&] {
            State s;
            int32 threshold = PG_GETARG_INT32(2);
            int32 duration_s = PG_GETARG_INT32(3);
            TimestampTz now = GetCurrentTimestamp();
            bool created;
            LWLockAcquire(lock, LW_EXCLUSIVE);
            Entry *e = find(make_key(kSession, PG_GETARG_UUID_P(0)), true, &created);
            e->count++;
            e->touched = now;
            s.has_attempts = true;
            s.attempts = e->count;
            Entry *u = find(make_key(kUser, PG_GETARG_UUID_P(1)), true, &created);
            u->count++;
            if (u->count >= threshold) {
                u->count = 0;
                // From the transaction's start, like now() in SQL: the wait it reports is then
                // exactly lockout_duration.
                u->locked_until = TimestampTzPlusMilliseconds(GetCurrentTransactionStartTimestamp(),
                                                              static_cast<int64>(duration_s) * 1000);
            }
            u->touched = now;
            s.failures = u->count;
            s.locked_until = u->locked_until;
            LWLockRelease(lock);
            return result(fcinfo, s);
        });
    });
}

// _guess_forget(session, uid, clear_lockout): a right code (or a lockout reset).
Datum sms_otp_guess_forget(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        if (!table) PG_RETURN_VOID();
        pg_call([&] {
            bool created;
            LWLockAcquire(lock, LW_EXCLUSIVE);
            if (!PG_ARGISNULL(0)) {
                Key k = make_key(kSession, PG_GETARG_UUID_P(0));
                hash_search(table, &k, HASH_REMOVE, nullptr);
            }
            if (!PG_ARGISNULL(1)) {
                Key k = make_key(kUser, PG_GETARG_UUID_P(1));
                if (!PG_ARGISNULL(2) && PG_GETARG_BOOL(2))
                    hash_search(table, &k, HASH_REMOVE, nullptr);
                else if (Entry *u = find(k, false, &created))
                    u->count = 0;
            }
            LWLockRelease(lock);
        });
        PG_RETURN_VOID();
    });
}

// The limited keys of a user and (when known) a client network, arguments 0 and 1, each with
// its limit: sms_otp.captcha_refusals_per_minute and sms_otp.ip_captcha_refusals_per_minute (0:
// that one is not limited, nor counted).
static int captcha_keys(FunctionCallInfo fcinfo, Key keys[2], int limits[2]) {
    int n = 0;
    if (!PG_ARGISNULL(0) && sms_otp::settings::captcha_refusals_per_minute > 0) {
        limits[n] = sms_otp::settings::captcha_refusals_per_minute;
        keys[n] = make_key(kUser, PG_GETARG_UUID_P(0));
        keys[n++].db = MyDatabaseId;
    }
    if (!PG_ARGISNULL(1) && sms_otp::settings::ip_captcha_refusals_per_minute > 0) {
        limits[n] = sms_otp::settings::ip_captcha_refusals_per_minute;
        keys[n++] = make_net_key(PG_GETARG_INET_PP(1));
    }
    return n;
}

// _captcha_take(uid, net): a token is about to be looked at. When the user or the network has
// had its limit of tokens not passed in the minute its first one opened, the seconds until
// that minute ends (at most 60), and nothing is taken; otherwise NULL, and the token counts
// for both until _captcha_give_back says it passed. Checked and counted under one lock, so
// tokens sent at once cannot all slip under the limit. NULL, counting nothing, without limits
// or without shared memory.
Datum sms_otp_captcha_take(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        if (!refusals) PG_RETURN_NULL();
        int64 wait_us = pg_call([&] {
            Key keys[2];
            int limits[2];
            int n = captcha_keys(fcinfo, keys, limits);
            Table t = refusals_table();
            TimestampTz now = GetCurrentTimestamp();
            int64 longest = 0;
            bool created;
            LWLockAcquire(refusal_lock, LW_EXCLUSIVE);
            for (int i = 0; i < n; i++) find_in(t, keys[i], true, &created)->touched = now;
            Entry *e[2];
            for (int i = 0; i < n; i++) {  // making the second may have made room: found again
                e[i] = find_in(t, keys[i], true, &created);
                if (e[i]->locked_until <= now) {
                    e[i]->count = 0;
                    e[i]->locked_until = now + 60 * USECS_PER_SEC;
                }
                e[i]->touched = now;
                if (e[i]->count >= limits[i]) longest = std::max<int64>(longest, e[i]->locked_until - now);
            }
            if (longest == 0)
                for (int i = 0; i < n; i++) e[i]->count++;
            LWLockRelease(refusal_lock);
            return std::min<int64>(longest, 60 * USECS_PER_SEC);
        });
        if (wait_us <= 0) PG_RETURN_NULL();
        PG_RETURN_INT32(static_cast<int32>((wait_us + USECS_PER_SEC - 1) / USECS_PER_SEC));
    });
}

// _captcha_give_back(uid, net): the token taken in passed; it counts no more.
Datum sms_otp_captcha_give_back(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        if (!refusals) PG_RETURN_VOID();
        pg_call([&] {
            Key keys[2];
            int limits[2];
            int n = captcha_keys(fcinfo, keys, limits);
            Table t = refusals_table();
            TimestampTz now = GetCurrentTimestamp();
            bool created;
            LWLockAcquire(refusal_lock, LW_EXCLUSIVE);
            for (int i = 0; i < n; i++) {
                Entry *e = find_in(t, keys[i], false, &created);
                if (e && e->locked_until > now && e->count > 0) e->count--;
            }
            LWLockRelease(refusal_lock);
        });
        PG_RETURN_VOID();
    });
}

}  // extern "C"
