/*
 * ngx_http_rampart_module.c -- Rampart inside nginx: enforce the daemon's
 * decisions before a request reaches the application, and report every
 * request to the daemon after it is answered.
 *
 * Two phase handlers, both kept off the slow path:
 *
 *   PREACCESS  look the client's keys (address after realip, its subnet,
 *              the header fingerprint, the API token) up in the decision
 *              table, a file the daemon writes and every worker maps
 *              read-only (src/dtable/dtable_reader.c: no lock, no
 *              allocation, no syscall). Block answers 403, throttle 429
 *              with Retry-After, both with a small JSON body naming the
 *              incident. PREACCESS rather than ACCESS so that `satisfy
 *              any` with another access module cannot skip us.
 *   LOG        encode the request as one event datagram (the protocol of
 *              `rampart serve`, src/common/protocol.c) into a per-worker
 *              batch buffer. The batch leaves with one sendmmsg() with
 *              MSG_DONTWAIT on a connected AF_UNIX datagram socket 1 ms
 *              after its first event (a timer), or at once when it holds
 *              64 events: one datagram per request, as the protocol wants,
 *              but one syscall (and one wake-up of the daemon) per batch
 *              instead of per request, for at most 1 ms of added delay.
 *              A full or absent daemon costs a failed send and a counter
 *              increment, never a delayed response. The event of a request
 *              PREACCESS refused carries RP_EVENT_REFUSED (the request's
 *              ctx says so): the engine counts it and judges nothing by it.
 *
 * Rampart is an aid, not a gate: whatever goes wrong on our side (no
 * table, a corrupt one, no daemon) the request is served ("fail open"),
 * unless a location asks for `rampart_fail closed`.
 *
 * Per-worker state (the table mapping, the socket, drop counters) lives in
 * one static struct: nginx workers are single-threaded processes, and the
 * state is opened in init_process, after the fork.
 *
 * The table is re-checked at most once a second (ngx_current_msec, no
 * clock call): one stat(). A new inode (daemon compaction or restart)
 * remaps; the same inode with another size, or a header that no longer
 * matches what was mapped, means someone wrote over the file, and the
 * mapping is dropped (fail mode applies) until a valid file appears.
 * Because a file truncated in place makes reads of the mapping fault with
 * SIGBUS before the next check, lookups run under a SIGBUS guard
 * (sigsetjmp without saving the signal mask: no syscall) that turns the
 * fault into "table unusable" instead of a dead worker.
 */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <setjmp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "rampart.h"
#include "keys.h"
#include "protocol.h"
#include "login_field.h"
#include "dtable.h"

#define RP_DEFAULT_TABLE "/run/rampart/decisions.tbl"
#define RP_DEFAULT_SOCKET "/run/rampart/events.sock"
#define RP_RECHECK_MS 1000       /* table re-check and reconnect period */
#define RP_DROP_WARN_S 60        /* at most one drop warning a minute */
#define RP_USERNAME_MAX 256      /* longer usernames are hashed cut */
#define RP_BODY_SCAN_MAX 4096    /* bytes of a split body we gather */
#define RP_BATCH_BYTES (128 * 1024) /* encoded events waiting for sendmmsg */
#define RP_BATCH_MAX 256            /* datagrams waiting (sendmmsg allows 1024) */
#define RP_RETRY_MS 1               /* retry of a batch the daemon refused */
/* A batch leaves 1 ms after its first event, or at once when it holds
 * RP_BATCH_FLUSH events: at tens of thousands of requests a second that is
 * one sendmmsg per ~50 requests instead of one per event-loop iteration
 * (a few requests), for at most 1 ms more between a request and the daemon
 * seeing it (the decision budget is 50 ms). */
#define RP_BATCH_DELAY_MS 1
#define RP_BATCH_FLUSH 64

#define RP_MODE_ENFORCE 0
#define RP_MODE_MONITOR 1
#define RP_FAIL_OPEN 0
#define RP_FAIL_CLOSED 1
#define RP_RESPONSE_JSON 0   /* the module writes the JSON answer */
#define RP_RESPONSE_STATUS 1 /* only the status: nginx's error_page applies */

typedef struct {
    ngx_str_t table;  /* decision table path */
    ngx_str_t socket; /* daemon socket path; empty = events off */
    ngx_flag_t used;  /* some location has `rampart on` */
} rp_main_conf_t;

typedef struct {
    ngx_flag_t enable;
    ngx_uint_t mode;
    ngx_uint_t fail;
    ngx_uint_t response;
    ngx_uint_t block_status;
    ngx_uint_t throttle_status;
    ngx_str_t username_field; /* empty: no extraction */
    ngx_str_t token_header;   /* lower-cased; empty: Authorization / X-API-Key */
} rp_loc_conf_t;

/* What one walk over the request headers yields. */
typedef struct {
    uint64_t header_hash;
    uint32_t flags;
    uint64_t token_id;
    uint64_t fingerprint; /* 0 without a User-Agent */
} rp_headers_t;

/* The request's module ctx: what the access phase did to it and found in
 * it, for the log phase. The walk over the headers is a quarter of what
 * the module costs a request (callgrind, bench/nginx.sh CALLGRIND=): the
 * log phase reuses the access phase's instead of walking them again, for
 * two small allocations from the request's pool. */
typedef struct {
    ngx_uint_t refused; /* our 403/429 (or fail-closed 503): RP_EVENT_REFUSED */
    ngx_uint_t scanned; /* hs holds the walk, made with token_header */
    ngx_str_t token_header;
    rp_headers_t hs;
} rp_ctx_t;

/* Everything a worker owns. */
typedef struct {
    rp_dtable_reader *table;
    ngx_msec_t table_checked;
    ngx_uint_t table_ever_checked;
    ngx_uint_t table_complained; /* "table unusable" already logged */
    dev_t table_dev;
    ino_t table_ino;
    off_t table_size;
    time_t table_mtime;
    long table_mtime_ns;
    u_char table_head[24]; /* magic .. max_probe of the mapped header */

    int fd;
    ngx_uint_t connected;
    ngx_uint_t connect_tried;
    ngx_msec_t connect_at;
    ngx_uint_t connect_complained;
    struct sockaddr_un addr;
    socklen_t addr_len;

    uint64_t sent;    /* datagrams the socket took */
    uint64_t batches; /* sendmmsg calls */
    uint64_t drops;
    uint64_t drops_reported;
    time_t drop_warned;
    int drop_errno;

    /* The batch: n datagrams back to back in buf[0..used). */
    ngx_uint_t n;
    size_t used;
    size_t len[RP_BATCH_MAX];
    ngx_event_t flush_ev; /* posted while a batch waits */
    rp_main_conf_t *mcf;
} rp_worker_t;

static rp_worker_t rp_w = {.fd = -1};
static uint8_t rp_batch_buf[RP_BATCH_BYTES];

/* SIGBUS guard around table reads (see the top of the file). */
static sigjmp_buf rp_bus_jmp;
static volatile sig_atomic_t rp_bus_armed;
static struct sigaction rp_bus_old;
static ngx_uint_t rp_bus_installed;

static ngx_int_t rp_postconfiguration(ngx_conf_t *cf);
static void *rp_create_main_conf(ngx_conf_t *cf);
static char *rp_init_main_conf(ngx_conf_t *cf, void *conf);
static void *rp_create_loc_conf(ngx_conf_t *cf);
static char *rp_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child);
static ngx_int_t rp_init_process(ngx_cycle_t *cycle);
static void rp_exit_process(ngx_cycle_t *cycle);

static ngx_conf_enum_t rp_modes[] = {
    {ngx_string("enforce"), RP_MODE_ENFORCE},
    {ngx_string("monitor"), RP_MODE_MONITOR},
    {ngx_null_string, 0},
};

static ngx_conf_enum_t rp_fail_modes[] = {
    {ngx_string("open"), RP_FAIL_OPEN},
    {ngx_string("closed"), RP_FAIL_CLOSED},
    {ngx_null_string, 0},
};

static ngx_conf_enum_t rp_responses[] = {
    {ngx_string("json"), RP_RESPONSE_JSON},
    {ngx_string("status"), RP_RESPONSE_STATUS},
    {ngx_null_string, 0},
};

static ngx_conf_num_bounds_t rp_status_bounds = {ngx_conf_check_num_bounds, 300, 599};

static ngx_command_t rp_commands[] = {
    {ngx_string("rampart"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_FLAG,
     ngx_conf_set_flag_slot, NGX_HTTP_LOC_CONF_OFFSET, offsetof(rp_loc_conf_t, enable), NULL},
    {ngx_string("rampart_table"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_HTTP_MAIN_CONF_OFFSET, offsetof(rp_main_conf_t, table), NULL},
    {ngx_string("rampart_socket"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_HTTP_MAIN_CONF_OFFSET, offsetof(rp_main_conf_t, socket), NULL},
    {ngx_string("rampart_mode"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_enum_slot, NGX_HTTP_LOC_CONF_OFFSET, offsetof(rp_loc_conf_t, mode), rp_modes},
    {ngx_string("rampart_fail"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_enum_slot, NGX_HTTP_LOC_CONF_OFFSET, offsetof(rp_loc_conf_t, fail),
     rp_fail_modes},
    {ngx_string("rampart_response"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_enum_slot, NGX_HTTP_LOC_CONF_OFFSET, offsetof(rp_loc_conf_t, response),
     rp_responses},
    {ngx_string("rampart_block_status"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_num_slot, NGX_HTTP_LOC_CONF_OFFSET, offsetof(rp_loc_conf_t, block_status),
     &rp_status_bounds},
    {ngx_string("rampart_throttle_status"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_num_slot, NGX_HTTP_LOC_CONF_OFFSET, offsetof(rp_loc_conf_t, throttle_status),
     &rp_status_bounds},
    {ngx_string("rampart_username_field"), NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_str_slot, NGX_HTTP_LOC_CONF_OFFSET, offsetof(rp_loc_conf_t, username_field),
     NULL},
    {ngx_string("rampart_token_header"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_str_slot, NGX_HTTP_LOC_CONF_OFFSET, offsetof(rp_loc_conf_t, token_header), NULL},
    ngx_null_command};

static ngx_http_module_t rp_module_ctx = {
    NULL,                 /* preconfiguration */
    rp_postconfiguration, /* postconfiguration */
    rp_create_main_conf,  /* create main configuration */
    rp_init_main_conf,    /* init main configuration */
    NULL,                 /* create server configuration */
    NULL,                 /* merge server configuration */
    rp_create_loc_conf,   /* create location configuration */
    rp_merge_loc_conf     /* merge location configuration */
};

ngx_module_t ngx_http_rampart_module = {NGX_MODULE_V1,
                                        &rp_module_ctx,  /* module context */
                                        rp_commands,     /* module directives */
                                        NGX_HTTP_MODULE, /* module type */
                                        NULL,            /* init master */
                                        NULL,            /* init module */
                                        rp_init_process, /* init process */
                                        NULL,            /* init thread */
                                        NULL,            /* exit thread */
                                        rp_exit_process, /* exit process */
                                        NULL,            /* exit master */
                                        NGX_MODULE_V1_PADDING};

/* ------------------------------------------------------------ helpers */

static int64_t rp_now_us(void) {
    ngx_time_t *tp = ngx_timeofday(); /* nginx's cached time: no syscall */
    return (int64_t)tp->sec * 1000000 + (int64_t)tp->msec * 1000;
}

/* The client address as Rampart stores it: IPv4 as ::ffff:a.b.c.d. */
static void rp_client_addr(ngx_connection_t *c, rp_addr *out) {
    ngx_memzero(out, sizeof *out);
    if (c->sockaddr == NULL) return;
    if (c->sockaddr->sa_family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)c->sockaddr;
        out->bytes[10] = 0xff;
        out->bytes[11] = 0xff;
        ngx_memcpy(out->bytes + 12, &sin->sin_addr, 4);
        out->family = 4;
#if (NGX_HAVE_INET6)
    } else if (c->sockaddr->sa_family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)c->sockaddr;
        ngx_memcpy(out->bytes, &sin6->sin6_addr, 16);
        out->family = IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) ? 4 : 6;
#endif
    }
}

/*
 * One walk over the request headers in arrival order, through the shared
 * derivation (src/common/keys.c rp_request_headers, which test_keys
 * proves equal to the engine's): the header-name fingerprint, the RP_HDR_
 * flags, the user agent and the API token. No allocation: the walk lives
 * on the stack and points into the request's headers.
 */
static void rp_scan_headers(ngx_http_request_t *r, const rp_loc_conf_t *lc, rp_headers_t *out) {
    rp_request_headers rh;
    rp_request_headers_init(&rh, (const char *)lc->token_header.data, lc->token_header.len);
    ngx_list_part_t *part = &r->headers_in.headers.part;
    ngx_table_elt_t *h = part->elts;

    for (ngx_uint_t i = 0;; i++) {
        if (i >= part->nelts) {
            if (part->next == NULL) break;
            part = part->next;
            h = part->elts;
            i = 0;
            if (part->nelts == 0) continue;
        }
        if (h[i].key.len == 0 || h[i].lowcase_key == NULL) continue;
        rp_request_headers_add(&rh, (const char *)h[i].lowcase_key, h[i].key.len,
                               (const char *)h[i].value.data, h[i].value.len);
    }
    out->header_hash = rp_header_names_hash(&rh.names);
    out->flags = RP_EVENT_HEADERS_KNOWN | rh.names.flags;
    out->token_id = rp_request_token_id(&rh);
    /* rp_request_fingerprint(&rh), without hashing the names again */
    out->fingerprint = rp_fingerprint(rh.user_agent, rh.user_agent_len, out->header_hash);
}

/* ---------------------------------------------------- decision table */

static void rp_bus_handler(int sig, siginfo_t *si, void *uc) {
    if (rp_bus_armed) {
        rp_bus_armed = 0;
        siglongjmp(rp_bus_jmp, 1);
    }
    /* Not ours: put the old disposition back; the faulting instruction
     * runs again and meets it. */
    sigaction(SIGBUS, &rp_bus_old, NULL);
}

static void rp_bus_install(ngx_log_t *log) {
    struct sigaction sa;
    ngx_memzero(&sa, sizeof sa);
    sa.sa_sigaction = rp_bus_handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &rp_bus_old) == 0)
        rp_bus_installed = 1;
    else
        ngx_log_error(NGX_LOG_WARN, log, ngx_errno, "rampart: cannot install the SIGBUS guard");
}

static void rp_table_drop(void) {
    rp_dtable_reader_close(rp_w.table);
    rp_w.table = NULL;
}

/* The first 24 header bytes (magic, version, entry size, capacity, probe
 * bound) of the file now, to compare with what is mapped. */
static ngx_int_t rp_table_read_head(const char *path, u_char head[24]) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NGX_ERROR;
    ssize_t n = pread(fd, head, 24, 0);
    close(fd);
    return n == 24 ? NGX_OK : NGX_ERROR;
}

static void rp_table_note(const struct stat *st) {
    rp_w.table_dev = st->st_dev;
    rp_w.table_ino = st->st_ino;
    rp_w.table_size = st->st_size;
    rp_w.table_mtime = st->st_mtim.tv_sec;
    rp_w.table_mtime_ns = st->st_mtim.tv_nsec;
}

static void rp_table_open(rp_main_conf_t *mcf, ngx_log_t *log) {
    const char *path = (const char *)mcf->table.data;
    rp_error err;
    rp_dtable_reader *fresh = NULL;
    struct stat st;
    rp_status s = rp_dtable_reader_open(path, &fresh, &err);
    if (s == RP_OK && stat(path, &st) == 0 && rp_table_read_head(path, rp_w.table_head) == NGX_OK) {
        rp_table_drop();
        rp_w.table = fresh;
        rp_table_note(&st);
        if (rp_w.table_complained)
            ngx_log_error(NGX_LOG_NOTICE, log, 0, "rampart: decision table \"%s\" is usable again",
                          path);
        rp_w.table_complained = 0;
        return;
    }
    if (fresh) rp_dtable_reader_close(fresh);
    rp_table_drop();
    if (!rp_w.table_complained) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "rampart: decision table \"%s\" unusable: %s (no decisions apply; "
                      "locations with rampart_fail closed answer 503)",
                      path, s == RP_OK ? "changed while opening" : err.message);
        rp_w.table_complained = 1;
    }
    if (stat(path, &st) == 0) rp_table_note(&st);
}

/* At most once a second: one stat(), and a 24-byte pread only when the
 * file was modified in place (or an open when there is no usable table). */
static void rp_table_tick(rp_main_conf_t *mcf, ngx_log_t *log) {
    if (rp_w.table_ever_checked && ngx_current_msec - rp_w.table_checked < RP_RECHECK_MS) return;
    rp_w.table_ever_checked = 1;
    rp_w.table_checked = ngx_current_msec;
    const char *path = (const char *)mcf->table.data;
    struct stat st;
    if (stat(path, &st) != 0) {
        if (rp_w.table || !rp_w.table_complained) {
            ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                          "rampart: decision table \"%s\" is absent (no decisions apply; "
                          "locations with rampart_fail closed answer 503)",
                          path);
            rp_w.table_complained = 1;
        }
        rp_table_drop();
        rp_w.table_ino = 0;
        return;
    }
    int same = st.st_dev == rp_w.table_dev && st.st_ino == rp_w.table_ino &&
               st.st_size == rp_w.table_size;
    /* Without a usable table, try again every second even if the file
     * looks unchanged: the daemon fills a new file through its mapping,
     * which does not reliably move the modification time. */
    if (same && rp_w.table) {
        if (st.st_mtim.tv_sec == rp_w.table_mtime && st.st_mtim.tv_nsec == rp_w.table_mtime_ns)
            return;
        u_char head[24];
        if (rp_table_read_head(path, head) == NGX_OK &&
            ngx_memcmp(head, rp_w.table_head, sizeof head) == 0) {
            rp_table_note(&st); /* the daemon's own in-place writes */
            return;
        }
    }
    rp_table_open(mcf, log);
}

/*
 * Look every key up; allow wins over everything, block over throttle;
 * monitor decisions do not act. Returns the action (NONE when nothing
 * applies) or -1 when reading the mapping faulted.
 */
static int rp_lookup_keys(const rp_key *keys, int n, int64_t now_us, rp_dtable_hit *best) {
    int action = RP_ACTION_NONE;
    for (int i = 0; i < n; i++) {
        rp_dtable_hit hit;
        if (!rp_dtable_lookup(rp_w.table, &keys[i], now_us, &hit)) continue;
        if (hit.action == RP_ACTION_ALLOW) return RP_ACTION_ALLOW;
        if (hit.action == RP_ACTION_BLOCK && action != RP_ACTION_BLOCK) {
            action = RP_ACTION_BLOCK;
            *best = hit;
        } else if (hit.action == RP_ACTION_THROTTLE && action == RP_ACTION_NONE) {
            action = RP_ACTION_THROTTLE;
            *best = hit;
        }
    }
    return action;
}

static int rp_lookup_guarded(const rp_key *keys, int n, int64_t now_us, rp_dtable_hit *best) {
    if (!rp_bus_installed) return rp_lookup_keys(keys, n, now_us, best);
    if (sigsetjmp(rp_bus_jmp, 0) != 0) return -1;
    rp_bus_armed = 1;
    int action = rp_lookup_keys(keys, n, now_us, best);
    rp_bus_armed = 0;
    return action;
}

/* ------------------------------------------------------- access phase */

static ngx_int_t rp_retry_after(ngx_http_request_t *r, int64_t retry) {
    ngx_table_elt_t *h = ngx_list_push(&r->headers_out.headers);
    u_char *v = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (h == NULL || v == NULL) return NGX_ERROR;
    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    ngx_str_set(&h->key, "Retry-After");
    h->value.data = v;
    h->value.len = ngx_sprintf(v, "%L", (int64_t)retry) - v;
    return NGX_OK;
}

static ngx_int_t rp_respond(ngx_http_request_t *r, rp_loc_conf_t *lc, int action,
                            const rp_dtable_hit *hit, int64_t now_us) {
    int throttle = action == RP_ACTION_THROTTLE;
    int64_t retry = (hit->expires_us - now_us + 999999) / 1000000;
    if (retry < 1) retry = 1;
    if (throttle && rp_retry_after(r, retry) != NGX_OK) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    if (lc->response == RP_RESPONSE_STATUS) /* nginx answers, error_page included */
        return throttle ? lc->throttle_status : lc->block_status;
    if (ngx_http_discard_request_body(r) != NGX_OK) return NGX_HTTP_INTERNAL_SERVER_ERROR;

    size_t cap = 160;
    u_char *body = ngx_pnalloc(r->pool, cap);
    if (body == NULL) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    u_char *last = ngx_snprintf(body, cap,
                                "{\"error\":\"%s\",\"action\":\"%s\",\"incident_id\":%uL,"
                                "\"retry_after_s\":%L}\n",
                                throttle ? "throttled" : "blocked", throttle ? "throttle" : "block",
                                (uint64_t)hit->incident_id, (int64_t)retry);

    r->headers_out.status = throttle ? lc->throttle_status : lc->block_status;
    r->headers_out.content_length_n = last - body;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    ngx_buf_t *b = ngx_calloc_buf(r->pool);
    if (b == NULL) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    b->pos = body;
    b->last = last;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;
    ngx_chain_t out = {b, NULL};

    ngx_int_t rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) return rc;
    return ngx_http_output_filter(r, &out);
}

/*
 * The event of a request the module refused says so (RP_EVENT_REFUSED):
 * our own 403/429 is not evidence about the client, and the engine must
 * not read a blocked client's refused reads as "denied objects" or its
 * refused logins as failures.
 *
 * The ctx is also registered as a pool cleanup because an internal
 * redirect (`rampart_response status` with an error_page) or a filter
 * finalization clears every module's ctx before the log phase; the
 * cleanup list is where nginx's realip module finds its ctx again, and we
 * do the same. The handler does nothing: it is only a marker.
 */
static void rp_ctx_cleanup(void *data) { (void)data; }

static rp_ctx_t *rp_get_ctx(ngx_http_request_t *r) {
    rp_ctx_t *ctx = ngx_http_get_module_ctx(r, ngx_http_rampart_module);
    if (ctx || !(r->internal || r->filter_finalize)) return ctx;
    for (ngx_pool_cleanup_t *cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == rp_ctx_cleanup) {
            ctx = cln->data;
            ngx_http_set_ctx(r, ctx, ngx_http_rampart_module);
            return ctx;
        }
    }
    return NULL;
}

/* The request's ctx, made when it has none; NULL when out of memory. */
static rp_ctx_t *rp_ensure_ctx(ngx_http_request_t *r) {
    rp_ctx_t *ctx = rp_get_ctx(r);
    if (ctx) return ctx;
    ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(r->pool, sizeof(rp_ctx_t));
    if (cln == NULL) return NULL;
    cln->handler = rp_ctx_cleanup;
    ctx = cln->data;
    ngx_memzero(ctx, sizeof *ctx);
    ngx_http_set_ctx(r, ctx, ngx_http_rampart_module);
    return ctx;
}

/* Mark the request as answered by us. */
static ngx_int_t rp_mark_refused(ngx_http_request_t *r) {
    rp_ctx_t *ctx = rp_ensure_ctx(r);
    if (ctx == NULL) return NGX_ERROR;
    ctx->refused = 1;
    return NGX_OK;
}

/* The walk over the headers made for this location's token header: the
 * one made earlier in this request for the same header (an internal
 * redirect may have moved the request to a location configured with
 * another), else a new walk. */
static void rp_request_headers_of(ngx_http_request_t *r, const rp_ctx_t *ctx,
                                  const rp_loc_conf_t *lc, rp_headers_t *out) {
    if (ctx && ctx->scanned && ctx->token_header.len == lc->token_header.len &&
        (lc->token_header.len == 0 ||
         ngx_strncmp(ctx->token_header.data, lc->token_header.data, lc->token_header.len) == 0)) {
        *out = ctx->hs;
        return;
    }
    rp_scan_headers(r, lc, out);
}

/* The fail-closed answer is ours too: a table we cannot read says nothing
 * about the client who meets it. */
static ngx_int_t rp_fail(ngx_http_request_t *r, const rp_loc_conf_t *lc) {
    if (lc->fail != RP_FAIL_CLOSED) return NGX_DECLINED;
    if (rp_mark_refused(r) != NGX_OK) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    return NGX_HTTP_SERVICE_UNAVAILABLE;
}

static ngx_int_t rp_access_handler(ngx_http_request_t *r) {
    rp_loc_conf_t *lc = ngx_http_get_module_loc_conf(r, ngx_http_rampart_module);
    /* Error pages stay reachable: a blocked client's error_page redirect is
     * not checked again (it would only meet the same decision). */
    if (!lc->enable || r != r->main || r->error_page) return NGX_DECLINED;
    rp_main_conf_t *mcf = ngx_http_get_module_main_conf(r, ngx_http_rampart_module);

    rp_table_tick(mcf, r->connection->log);
    if (rp_w.table == NULL) return rp_fail(r, lc);

    /* The client's keys (src/common/keys.c rp_request_keys): its address
     * and subnet, its fingerprint, the fingerprint on this request's route
     * -- the engine decides a swarm that never reuses an address on a
     * literal route (/api/login) or an object route (/api/products/ for
     * /api/products/123); the module does not know the templates, so both
     * scopes of the raw path are looked up -- and its token. */
    rp_key keys[RP_REQUEST_KEYS_MAX];
    rp_addr addr;
    rp_client_addr(r->connection, &addr);
    rp_headers_t hs;
    /* Kept for the log phase (without a ctx, it walks again); an internal
     * redirect back to the access phase finds the walk made already. */
    rp_ctx_t *ctx = rp_ensure_ctx(r);
    rp_request_headers_of(r, ctx, lc, &hs);
    if (ctx) {
        ctx->hs = hs;
        ctx->token_header = lc->token_header;
        ctx->scanned = 1;
    }
    int n = rp_request_keys(&addr, hs.fingerprint, (const char *)r->unparsed_uri.data,
                            r->unparsed_uri.len, hs.token_id, keys);

    int64_t now_us = rp_now_us();
    rp_dtable_hit hit;
    ngx_memzero(&hit, sizeof hit);
    int action = rp_lookup_guarded(keys, n, now_us, &hit);
    if (action < 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "rampart: decision table \"%V\" was truncated under its mapping (SIGBUS "
                      "caught); dropping it until a valid table appears",
                      &mcf->table);
        rp_table_drop();
        rp_w.table_complained = 1;
        rp_w.table_ever_checked = 0; /* re-check on the next request */
        return rp_fail(r, lc);
    }
    if (action != RP_ACTION_BLOCK && action != RP_ACTION_THROTTLE) return NGX_DECLINED;

    if (lc->mode == RP_MODE_MONITOR) {
        if (!r->internal)
            ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                          "rampart: would %s (incident %uL, monitor mode)",
                          action == RP_ACTION_BLOCK ? "block" : "throttle",
                          (uint64_t)hit.incident_id);
        return NGX_DECLINED;
    }
    if (rp_mark_refused(r) != NGX_OK) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    ngx_int_t rc = rp_respond(r, lc, action, &hit, now_us);
    if (lc->response == RP_RESPONSE_STATUS) return rc; /* the phase finalizes */
    ngx_http_finalize_request(r, rc);
    return NGX_DONE;
}

/* ---------------------------------------------------------- log phase */

static uint8_t rp_method_of(ngx_http_request_t *r) {
    switch (r->method) {
    case NGX_HTTP_GET: return RP_METHOD_GET;
    case NGX_HTTP_HEAD: return RP_METHOD_HEAD;
    case NGX_HTTP_POST: return RP_METHOD_POST;
    case NGX_HTTP_PUT: return RP_METHOD_PUT;
    case NGX_HTTP_DELETE: return RP_METHOD_DELETE;
    case NGX_HTTP_PATCH: return RP_METHOD_PATCH;
    case NGX_HTTP_OPTIONS: return RP_METHOD_OPTIONS;
    case NGX_HTTP_TRACE: return RP_METHOD_TRACE;
    }
    if (r->method_name.len == 7 && ngx_strncmp(r->method_name.data, "CONNECT", 7) == 0)
        return RP_METHOD_CONNECT;
    return RP_METHOD_OTHER;
}

/* Sum of the upstream response times of the request, or -1. */
static int64_t rp_upstream_us(ngx_http_request_t *r) {
    if (r->upstream_states == NULL || r->upstream_states->nelts == 0) return -1;
    ngx_http_upstream_state_t *st = r->upstream_states->elts;
    int64_t total = -1;
    for (ngx_uint_t i = 0; i < r->upstream_states->nelts; i++) {
        if (st[i].peer == NULL || st[i].response_time == (ngx_msec_t)-1) continue;
        total = (total < 0 ? 0 : total) + (int64_t)st[i].response_time * 1000;
    }
    return total;
}

/*
 * The login username from a body already read into memory: the top-level
 * JSON member or form field (or a JSON pointer), by the rule of
 * src/common/login_field.c, which the unit tests prove against decoys.
 */
static uint64_t rp_username_id(ngx_http_request_t *r, const rp_loc_conf_t *lc) {
    if (lc->username_field.len == 0 || r->request_body == NULL || r->request_body->bufs == NULL)
        return 0;
    u_char gathered[RP_BODY_SCAN_MAX];
    const u_char *p = NULL, *end = NULL;
    ngx_chain_t *cl = r->request_body->bufs;
    if (cl->next == NULL && cl->buf && !cl->buf->in_file && ngx_buf_in_memory(cl->buf)) {
        p = cl->buf->pos;
        end = cl->buf->last;
    } else {
        size_t used = 0;
        for (; cl && used < sizeof gathered; cl = cl->next) {
            if (cl->buf == NULL || cl->buf->in_file || !ngx_buf_in_memory(cl->buf)) return 0;
            size_t n = (size_t)(cl->buf->last - cl->buf->pos);
            if (n > sizeof gathered - used) n = sizeof gathered - used;
            ngx_memcpy(gathered + used, cl->buf->pos, n);
            used += n;
        }
        p = gathered;
        end = gathered + used;
    }
    u_char value[RP_USERNAME_MAX];
    size_t n = rp_login_field(p, (size_t)(end - p), (const char *)lc->username_field.data,
                              lc->username_field.len, value, sizeof value);
    return rp_text_id((const char *)value, n);
}

/* Connected and usable, or (at most once a second) try to connect. */
static ngx_int_t rp_socket_ready(rp_main_conf_t *mcf, ngx_log_t *log) {
    if (rp_w.fd < 0) return NGX_ERROR;
    if (rp_w.connected) return NGX_OK;
    if (rp_w.connect_tried && ngx_current_msec - rp_w.connect_at < RP_RECHECK_MS) return NGX_ERROR;
    rp_w.connect_tried = 1;
    rp_w.connect_at = ngx_current_msec;
    if (connect(rp_w.fd, (struct sockaddr *)&rp_w.addr, rp_w.addr_len) != 0) {
        if (!rp_w.connect_complained)
            ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                          "rampart: cannot reach the daemon at \"%V\"; events are dropped and "
                          "counted until it is back",
                          &mcf->socket);
        rp_w.connect_complained = 1;
        return NGX_ERROR;
    }
    if (rp_w.connect_complained)
        ngx_log_error(NGX_LOG_NOTICE, log, 0, "rampart: connected to the daemon at \"%V\"",
                      &mcf->socket);
    rp_w.connect_complained = 0;
    rp_w.connected = 1;
    return NGX_OK;
}

static void rp_count_drops(rp_main_conf_t *mcf, ngx_log_t *log, int err, uint64_t n) {
    rp_w.drops += n;
    if (err) rp_w.drop_errno = err;
    time_t now = ngx_time();
    if (now - rp_w.drop_warned < RP_DROP_WARN_S) return;
    rp_w.drop_warned = now;
    ngx_log_error(NGX_LOG_WARN, log, rp_w.drop_errno,
                  "rampart: %uL events dropped in this worker (%uL since the last warning), "
                  "daemon socket \"%V\"",
                  rp_w.drops, rp_w.drops - rp_w.drops_reported, &mcf->socket);
    rp_w.drops_reported = rp_w.drops;
}

/*
 * Send the batch: one sendmmsg, again after a partial send. When the
 * daemon's queue is full (EAGAIN: a unix datagram socket queues only
 * net.unix.max_dgram_qlen datagrams, 10 by default) what is left stays in
 * the buffer and a 1 ms timer retries, so a daemon descheduled for a few
 * milliseconds loses nothing; new events that find the buffer still full
 * are dropped and counted. Any other error means the daemon is gone: the
 * batch is dropped and the socket reconnects (at most once a second).
 */
static struct mmsghdr rp_msgs[RP_BATCH_MAX];
static struct iovec rp_iov[RP_BATCH_MAX];

static void rp_flush(ngx_log_t *log) {
    struct mmsghdr *msgs = rp_msgs;
    struct iovec *iov = rp_iov;
    ngx_uint_t n = rp_w.n, sent = 0;
    if (n == 0) return;
    if (rp_w.fd < 0 || !rp_w.connected) {
        rp_count_drops(rp_w.mcf, log, 0, n);
        rp_w.n = 0;
        rp_w.used = 0;
        return;
    }
    /* Pack the events, which lie back to back in the buffer, into as few
     * datagrams as fit RP_PROTO_MAX_DATAGRAM (protocol 1.1): the kernel's
     * cost is per datagram, so 50 events in one cost about one event. */
    static ngx_uint_t group_events[RP_BATCH_MAX];
    ngx_uint_t groups = 0;
    size_t at = 0;
    ngx_memzero(msgs, n * sizeof msgs[0]);
    for (ngx_uint_t i = 0; i < n; i++) {
        if (groups > 0 && iov[groups - 1].iov_len + rp_w.len[i] <= RP_PROTO_MAX_DATAGRAM) {
            iov[groups - 1].iov_len += rp_w.len[i];
            group_events[groups - 1]++;
        } else {
            iov[groups].iov_base = rp_batch_buf + at;
            iov[groups].iov_len = rp_w.len[i];
            msgs[groups].msg_hdr.msg_iov = &iov[groups];
            msgs[groups].msg_hdr.msg_iovlen = 1;
            group_events[groups] = 1;
            groups++;
        }
        at += rp_w.len[i];
    }
    int err = 0;
    ngx_uint_t sent_groups = 0;
    while (sent_groups < groups) {
        int k = sendmmsg(rp_w.fd, msgs + sent_groups, (unsigned)(groups - sent_groups),
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        rp_w.batches++;
        if (k > 0) {
            for (int g = 0; g < k; g++) sent += group_events[sent_groups + (ngx_uint_t)g];
            sent_groups += (ngx_uint_t)k;
            continue;
        }
        err = ngx_errno;
        if (err != NGX_EINTR) break;
    }
    rp_w.sent += (uint64_t)sent;
    if (sent < n && (err == NGX_EAGAIN || err == ENOBUFS)) {
        size_t skip = 0;
        for (ngx_uint_t i = 0; i < sent; i++) skip += rp_w.len[i];
        ngx_memmove(rp_batch_buf, rp_batch_buf + skip, rp_w.used - skip);
        ngx_memmove(rp_w.len, rp_w.len + sent, (n - sent) * sizeof rp_w.len[0]);
        rp_w.n = n - sent;
        rp_w.used -= skip;
        rp_w.drop_errno = err;
        if (!rp_w.flush_ev.timer_set) ngx_add_timer(&rp_w.flush_ev, RP_RETRY_MS);
        return;
    }
    if (sent < n) {
        rp_w.connected = 0; /* daemon gone: reconnect later */
        rp_count_drops(rp_w.mcf, log, err, n - sent);
    }
    rp_w.n = 0;
    rp_w.used = 0;
}

static void rp_flush_handler(ngx_event_t *ev) { rp_flush(ev->log); }

static void rp_fill_str(rp_str *s, const u_char *p, size_t len) {
    s->ptr = (const char *)p;
    s->len = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
}

static ngx_int_t rp_log_handler(ngx_http_request_t *r) {
    rp_loc_conf_t *lc = ngx_http_get_module_loc_conf(r, ngx_http_rampart_module);
    if (!lc->enable || r != r->main) return NGX_OK;
    rp_main_conf_t *mcf = ngx_http_get_module_main_conf(r, ngx_http_rampart_module);
    ngx_log_t *log = r->connection->log;
    if (rp_socket_ready(mcf, log) != NGX_OK) {
        if (rp_w.fd >= 0) rp_count_drops(mcf, log, 0, 1);
        return NGX_OK;
    }

    rp_event ev;
    ngx_memzero(&ev, sizeof ev);
    ev.ts_us = (int64_t)r->start_sec * 1000000 + (int64_t)r->start_msec * 1000;
    rp_client_addr(r->connection, &ev.client);
    ngx_uint_t status = r->err_status ? r->err_status : r->headers_out.status;
    ev.status = status <= 999 ? (uint16_t)status : 0;
    if (ev.status == 0) ev.flags |= RP_EVENT_UNKNOWN_STATUS;
    ev.method = rp_method_of(r);
    ev.request_bytes = r->request_length > 0 ? (uint64_t)r->request_length : 0;
    off_t body = r->connection->sent - (off_t)r->header_size;
    ev.response_bytes = body > 0 ? (uint64_t)body : 0;
    ev.upstream_us = rp_upstream_us(r);

    rp_ctx_t *ctx = rp_get_ctx(r);
    if (ctx && ctx->refused) ev.flags |= RP_EVENT_REFUSED;
    rp_headers_t hs;
    rp_request_headers_of(r, ctx, lc, &hs);
    ev.header_hash = hs.header_hash;
    ev.flags |= hs.flags;
    ev.token_id = hs.token_id;
    ev.credential_id = rp_username_id(r, lc);

    if (r->headers_in.host)
        rp_fill_str(&ev.host, r->headers_in.host->value.data, r->headers_in.host->value.len);
    else
        rp_fill_str(&ev.host, r->headers_in.server.data, r->headers_in.server.len);
    /* The raw request target, split at '?': what the client sent, as in an
     * access log's $request, not the decoded and normalised r->uri. */
    u_char *u = r->unparsed_uri.data;
    size_t ulen = r->unparsed_uri.len;
    u_char *q = u ? ngx_strlchr(u, u + ulen, '?') : NULL;
    if (q) {
        rp_fill_str(&ev.path, u, (size_t)(q - u));
        rp_fill_str(&ev.query, q + 1, (size_t)(u + ulen - q - 1));
    } else {
        rp_fill_str(&ev.path, u, ulen);
    }
    if (r->headers_in.user_agent)
        rp_fill_str(&ev.user_agent, r->headers_in.user_agent->value.data,
                    r->headers_in.user_agent->value.len);
    if (r->headers_in.referer)
        rp_fill_str(&ev.referer, r->headers_in.referer->value.data,
                    r->headers_in.referer->value.len);

    if (rp_w.n == RP_BATCH_MAX || sizeof rp_batch_buf - rp_w.used < RP_PROTO_MAX_DATAGRAM) {
        rp_flush(log);
        if (rp_w.n == RP_BATCH_MAX || sizeof rp_batch_buf - rp_w.used < RP_PROTO_MAX_DATAGRAM) {
            rp_count_drops(mcf, log, rp_w.drop_errno, 1); /* the daemon is behind */
            return NGX_OK;
        }
    }
    size_t len = rp_event_encode(&ev, rp_batch_buf + rp_w.used, RP_PROTO_MAX_DATAGRAM);
    if (len == 0) return NGX_OK;
    rp_w.len[rp_w.n++] = len;
    rp_w.used += len;
    if (rp_w.n >= RP_BATCH_FLUSH) {
        if (rp_w.flush_ev.timer_set) ngx_del_timer(&rp_w.flush_ev);
        rp_flush(log);
    } else if (!rp_w.flush_ev.timer_set) {
        ngx_add_timer(&rp_w.flush_ev, RP_BATCH_DELAY_MS);
    }
    return NGX_OK;
}

/* ------------------------------------------------------ configuration */

static void *rp_create_main_conf(ngx_conf_t *cf) {
    rp_main_conf_t *mcf = ngx_pcalloc(cf->pool, sizeof *mcf);
    return mcf;
}

/* Paths are used as C strings: copy them NUL-terminated. */
static char *rp_cstr(ngx_conf_t *cf, ngx_str_t *s, const char *dflt) {
    if (s->data == NULL) {
        s->data = (u_char *)dflt;
        s->len = ngx_strlen(dflt);
    }
    u_char *p = ngx_pnalloc(cf->pool, s->len + 1);
    if (p == NULL) return NGX_CONF_ERROR;
    ngx_memcpy(p, s->data, s->len);
    p[s->len] = '\0';
    s->data = p;
    return NGX_CONF_OK;
}

static char *rp_init_main_conf(ngx_conf_t *cf, void *conf) {
    rp_main_conf_t *mcf = conf;
    if (rp_cstr(cf, &mcf->table, RP_DEFAULT_TABLE) != NGX_CONF_OK) return NGX_CONF_ERROR;
    if (rp_cstr(cf, &mcf->socket, RP_DEFAULT_SOCKET) != NGX_CONF_OK) return NGX_CONF_ERROR;
    if (mcf->socket.len == 3 && ngx_strncmp(mcf->socket.data, "off", 3) == 0) mcf->socket.len = 0;
    if (mcf->socket.len >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "rampart_socket \"%V\" is too long", &mcf->socket);
        return NGX_CONF_ERROR;
    }
    if (mcf->table.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "rampart_table must not be empty");
        return NGX_CONF_ERROR;
    }
    return NGX_CONF_OK;
}

static void *rp_create_loc_conf(ngx_conf_t *cf) {
    rp_loc_conf_t *lc = ngx_pcalloc(cf->pool, sizeof *lc);
    if (lc == NULL) return NULL;
    lc->enable = NGX_CONF_UNSET;
    lc->mode = NGX_CONF_UNSET_UINT;
    lc->fail = NGX_CONF_UNSET_UINT;
    lc->response = NGX_CONF_UNSET_UINT;
    lc->block_status = NGX_CONF_UNSET_UINT;
    lc->throttle_status = NGX_CONF_UNSET_UINT;
    return lc;
}

static char *rp_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child) {
    rp_loc_conf_t *prev = parent, *lc = child;
    ngx_conf_merge_value(lc->enable, prev->enable, 0);
    ngx_conf_merge_uint_value(lc->mode, prev->mode, RP_MODE_ENFORCE);
    ngx_conf_merge_uint_value(lc->fail, prev->fail, RP_FAIL_OPEN);
    ngx_conf_merge_uint_value(lc->response, prev->response, RP_RESPONSE_JSON);
    ngx_conf_merge_uint_value(lc->block_status, prev->block_status, NGX_HTTP_FORBIDDEN);
    ngx_conf_merge_uint_value(lc->throttle_status, prev->throttle_status, 429);
    ngx_conf_merge_str_value(lc->username_field, prev->username_field, "");
    ngx_conf_merge_str_value(lc->token_header, prev->token_header, "");
    if (lc->token_header.len) { /* compared with nginx's lower-cased names */
        u_char *low = ngx_pnalloc(cf->pool, lc->token_header.len);
        if (low == NULL) return NGX_CONF_ERROR;
        ngx_strlow(low, lc->token_header.data, lc->token_header.len);
        lc->token_header.data = low;
    }
    if (lc->enable) {
        rp_main_conf_t *mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_rampart_module);
        mcf->used = 1;
    }
    return NGX_CONF_OK;
}

static ngx_int_t rp_postconfiguration(ngx_conf_t *cf) {
    ngx_http_core_main_conf_t *cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    ngx_http_handler_pt *h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) return NGX_ERROR;
    *h = rp_access_handler;
    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) return NGX_ERROR;
    *h = rp_log_handler;
    return NGX_OK;
}

/* ------------------------------------------------------------ workers */

static ngx_int_t rp_init_process(ngx_cycle_t *cycle) {
    rp_main_conf_t *mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_rampart_module);
    if (mcf == NULL || !mcf->used) return NGX_OK;
    rp_bus_install(cycle->log);
    rp_w.table_ever_checked = 1;
    rp_w.table_checked = ngx_current_msec;
    rp_table_open(mcf, cycle->log);

    if (mcf->socket.len == 0) return NGX_OK;
    rp_w.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (rp_w.fd < 0) {
        ngx_log_error(NGX_LOG_ERR, cycle->log, ngx_errno,
                      "rampart: cannot create the event socket; events are off in this worker");
        return NGX_OK; /* fail open */
    }
    ngx_memzero(&rp_w.addr, sizeof rp_w.addr);
    rp_w.addr.sun_family = AF_UNIX;
    ngx_memcpy(rp_w.addr.sun_path, mcf->socket.data, mcf->socket.len);
    rp_w.addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + mcf->socket.len + 1);
    rp_w.mcf = mcf;
    rp_w.flush_ev.handler = rp_flush_handler;
    rp_w.flush_ev.log = cycle->log;
    rp_w.flush_ev.data = &rp_w;
    rp_w.flush_ev.cancelable = 1; /* the retry timer never delays a shutdown */
    (void)rp_socket_ready(mcf, cycle->log);
    return NGX_OK;
}

static void rp_exit_process(ngx_cycle_t *cycle) {
    if (rp_w.flush_ev.posted) {
        ngx_delete_posted_event(&rp_w.flush_ev); /* a multi-statement macro */
    }
    if (rp_w.flush_ev.timer_set) ngx_del_timer(&rp_w.flush_ev);
    rp_flush(cycle->log);
    rp_w.drops += rp_w.n; /* still refused: lost with the worker */
    rp_w.n = 0;
    if (rp_w.sent || rp_w.drops)
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "rampart: worker exits: %uL events sent in %uL sendmmsg calls, %uL dropped",
                      rp_w.sent, rp_w.batches, rp_w.drops);
    if (rp_w.fd >= 0) close(rp_w.fd);
    rp_w.fd = -1;
    rp_table_drop();
    if (rp_bus_installed) sigaction(SIGBUS, &rp_bus_old, NULL);
    rp_bus_installed = 0;
}
