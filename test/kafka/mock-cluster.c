/*
 * A Kafka-protocol test broker: librdkafka's mock cluster, driven over
 * stdin/stdout. See test/kafka/README.md.
 *
 *   mock-cluster [BROKERS]         (default 3)
 *
 * Prints "bootstrap HOST:PORT,..." first, then answers each command line read
 * from stdin with one line: "ok", "ok VALUE" or "error WHY". Exits 0 on stdin
 * EOF, after destroying the cluster.
 *
 * Build: gcc -O2 -Wall -o mock-cluster mock-cluster.c -lrdkafka -lpthread
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static rd_kafka_mock_cluster_t *mcluster;
static int broker_cnt;

/* ---- answers ---------------------------------------------------------- */

static void ok(const char *fmt, ...) {
        if (fmt) {
                va_list ap;
                fputs("ok ", stdout);
                va_start(ap, fmt);
                vprintf(fmt, ap);
                va_end(ap);
                fputc('\n', stdout);
        } else {
                fputs("ok\n", stdout);
        }
        fflush(stdout);
}

static void fail(const char *fmt, ...) {
        va_list ap;
        fputs("error ", stdout);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        fflush(stdout);
}

static void answer_err(rd_kafka_resp_err_t err) {
        if (err)
                fail("%s: %s", rd_kafka_err2name(err), rd_kafka_err2str(err));
        else
                ok(NULL);
}

/* ---- parsing ---------------------------------------------------------- */

static int parse_long(const char *s, long min, long max, long *out) {
        char *end;
        long v;
        if (!s || !*s)
                return -1;
        errno = 0;
        v     = strtol(s, &end, 10);
        if (errno || *end || v < min || v > max)
                return -1;
        *out = v;
        return 0;
}

/* Kafka protocol API keys, with the highest version librdkafka 2.0.2's mock
 * implements (rdkafka_mock_handlers.c; -1: no handler). set_apiversion must
 * not go above it. */
static const struct {
        const char *name;
        int key;
        int max;
} apis[] = {
    {"Produce", 0, 7},
    {"Fetch", 1, 11},
    {"ListOffsets", 2, 5},
    {"Metadata", 3, 2},
    {"LeaderAndIsr", 4, -1},
    {"StopReplica", 5, -1},
    {"UpdateMetadata", 6, -1},
    {"ControlledShutdown", 7, -1},
    {"OffsetCommit", 8, 7},
    {"OffsetFetch", 9, 5},
    {"FindCoordinator", 10, 2},
    {"JoinGroup", 11, 5},
    {"Heartbeat", 12, 3},
    {"LeaveGroup", 13, 1},
    {"SyncGroup", 14, 3},
    {"DescribeGroups", 15, -1},
    {"ListGroups", 16, -1},
    {"SaslHandshake", 17, -1},
    {"ApiVersions", 18, 2},
    {"ApiVersion", 18, 2},
    {"CreateTopics", 19, -1},
    {"DeleteTopics", 20, -1},
    {"DeleteRecords", 21, -1},
    {"InitProducerId", 22, 4},
    {"OffsetForLeaderEpoch", 23, -1},
    {"AddPartitionsToTxn", 24, 1},
    {"AddOffsetsToTxn", 25, 1},
    {"EndTxn", 26, 1},
    {"WriteTxnMarkers", 27, -1},
    {"TxnOffsetCommit", 28, 2},
    {"DescribeAcls", 29, -1},
    {"CreateAcls", 30, -1},
    {"DeleteAcls", 31, -1},
    {"DescribeConfigs", 32, -1},
    {"AlterConfigs", 33, -1},
    {"SaslAuthenticate", 36, -1},
    {"CreatePartitions", 37, -1},
    {"DeleteGroups", 42, -1},
    {"ElectLeaders", 43, -1},
    {"IncrementalAlterConfigs", 44, -1},
    {"OffsetDelete", 47, -1},
};
#define APIS_CNT (sizeof(apis) / sizeof(apis[0]))

/* Returns the API key for a name or number, -1 if unknown. */
static int parse_api(const char *s) {
        long v;
        size_t i;
        if (!s)
                return -1;
        if (!parse_long(s, 0, 32767, &v))
                return (int)v;
        for (i = 0; i < APIS_CNT; i++)
                if (!strcasecmp(s, apis[i].name))
                        return apis[i].key;
        return -1;
}

/* The mock's highest implemented version of an API key, -1 if none, -2 if
 * the key is not in the table. */
static int api_max(int key) {
        size_t i;
        for (i = 0; i < APIS_CNT; i++)
                if (apis[i].key == key)
                        return apis[i].max;
        return -2;
}

/* An error code from a number or a name: librdkafka's names
 * (rd_kafka_err2name: NOT_LEADER_FOR_PARTITION, _TRANSPORT...), with or
 * without an ERR_ / RD_KAFKA_RESP_ERR_ prefix, and a few names newer Kafka
 * versions use for the same codes. Returns 0 on success. */
static int parse_err(const char *s, rd_kafka_resp_err_t *out) {
        static const struct {
                const char *name;
                int code;
        } aliases[] = {
            {"NOT_LEADER_OR_FOLLOWER", 6},
            {"UNKNOWN_TOPIC_OR_PARTITION", 3},
            {"NO_ERROR", 0},
            {"NONE", 0},
        };
        const struct rd_kafka_err_desc *descs;
        size_t cnt, i;
        long v;

        if (!s)
                return -1;
        if (!parse_long(s, INT_MIN, INT_MAX, &v)) {
                *out = (rd_kafka_resp_err_t)v;
                return 0;
        }
        if (!strncasecmp(s, "RD_KAFKA_RESP_ERR_", 18))
                s += 18;
        else if (!strncasecmp(s, "ERR_", 4))
                s += 4;
        for (i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
                if (!strcasecmp(s, aliases[i].name)) {
                        *out = (rd_kafka_resp_err_t)aliases[i].code;
                        return 0;
                }
        }
        rd_kafka_get_err_descs(&descs, &cnt);
        for (i = 0; i < cnt; i++) {
                if (descs[i].name && !strcasecmp(s, descs[i].name)) {
                        *out = descs[i].code;
                        return 0;
                }
        }
        return -1;
}

static int parse_broker(const char *s, int32_t *out) {
        long v;
        if (parse_long(s, 1, broker_cnt, &v))
                return -1;
        *out = (int32_t)v;
        return 0;
}

/* ---- the lost wake-up ------------------------------------------------- *
 * Commands that go through the mock thread's op queue (topic create, leader,
 * up/down, rtt, apiversion, topic-error) are enqueued with a wake-up byte
 * written to a pipe the mock thread polls. In 2.0.2 that byte can be lost: the
 * mock thread serves its queue (which re-arms the wake-up) and only then
 * drains the pipe, so an op enqueued in between has its byte drained without
 * being served, and no further byte is written for it. The op then waits
 * until the mock thread's poll times out for another reason (a timer, a
 * socket event, at most ~1 s later).
 *
 * While a command is in flight, this thread pokes the mock thread from
 * outside the queue: a TCP connect to a broker's listener makes its poll
 * return, which serves the queue. The mock accepts the connection and drops
 * it when we close it. */

static pthread_mutex_t poke_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t poke_cond  = PTHREAD_COND_INITIALIZER;
static int in_flight;
static int stopping;
static int poke_ms = 50;

/* Broker listener addresses, from the bootstrap list. */
static struct sockaddr_in *listeners;
static int listener_cnt;

static void poke(void) {
        int i;
        /* Any listener that accepts will do; a down broker's refuses. */
        for (i = 0; i < listener_cnt; i++) {
                int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                int r;
                if (s == -1)
                        return;
                r = connect(s, (struct sockaddr *)&listeners[i],
                            sizeof(listeners[i]));
                close(s);
                if (r == 0)
                        return;
        }
}

static void *poker_main(void *arg) {
        (void)arg;
        pthread_mutex_lock(&poke_lock);
        while (!stopping) {
                struct timespec ts;
                if (!in_flight) {
                        pthread_cond_wait(&poke_cond, &poke_lock);
                        continue;
                }
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += (long)poke_ms * 1000000L;
                ts.tv_sec += ts.tv_nsec / 1000000000L;
                ts.tv_nsec %= 1000000000L;
                /* The command gets poke_ms to complete on its own. */
                if (pthread_cond_timedwait(&poke_cond, &poke_lock, &ts) ==
                        ETIMEDOUT &&
                    in_flight && !stopping) {
                        pthread_mutex_unlock(&poke_lock);
                        poke();
                        pthread_mutex_lock(&poke_lock);
                }
        }
        pthread_mutex_unlock(&poke_lock);
        return NULL;
}

static void set_in_flight(int v) {
        pthread_mutex_lock(&poke_lock);
        in_flight = v;
        pthread_cond_signal(&poke_cond);
        pthread_mutex_unlock(&poke_lock);
}

static int parse_listeners(const char *bootstraps) {
        char *copy = strdup(bootstraps), *save = NULL, *tok;
        int n      = 1;
        const char *p;
        for (p = bootstraps; *p; p++)
                n += *p == ',';
        listeners = calloc((size_t)n, sizeof(*listeners));
        for (tok = strtok_r(copy, ",", &save); tok;
             tok  = strtok_r(NULL, ",", &save)) {
                char *colon = strrchr(tok, ':');
                long port;
                if (!colon)
                        continue;
                *colon = '\0';
                if (parse_long(colon + 1, 1, 65535, &port))
                        continue;
                listeners[listener_cnt].sin_family = AF_INET;
                listeners[listener_cnt].sin_port   = htons((uint16_t)port);
                if (inet_pton(AF_INET, tok,
                              &listeners[listener_cnt].sin_addr) != 1)
                        continue;
                listener_cnt++;
        }
        free(copy);
        return listener_cnt > 0 ? 0 : -1;
}

/* ---- commands --------------------------------------------------------- */

/* Errors one `errors` command pushes; words in a command line. */
#define MAX_ERRS 1000
#define MAX_ARGS (MAX_ERRS + 3)

static void cmd_updown(char **argv, int argc, int up) {
        int32_t b;
        if (argc != 2 || parse_broker(argv[1], &b))
                return fail("usage: %s BROKER (1..%d)", argv[0], broker_cnt);
        answer_err(up ? rd_kafka_mock_broker_set_up(mcluster, b)
                      : rd_kafka_mock_broker_set_down(mcluster, b));
}

static void cmd_rtt(char **argv, int argc) {
        int32_t b;
        long ms;
        if (argc != 3 || parse_broker(argv[1], &b) ||
            parse_long(argv[2], 0, INT_MAX, &ms))
                return fail("usage: rtt BROKER (1..%d) MS", broker_cnt);
        answer_err(rd_kafka_mock_broker_set_rtt(mcluster, b, (int)ms));
}

/* errors API N ERR...: one ERR is pushed N times (N up to 100000), else
 * exactly N ERRs (up to MAX_ERRS). errors API 0: clears them, as
 * clear-errors. */
static void cmd_errors(char **argv, int argc) {
        rd_kafka_resp_err_t *errs;
        long n;
        int api, i, one = argc == 4;
        if (argc == 3 && !strcmp(argv[2], "0") &&
            (api = parse_api(argv[1])) >= 0) {
                rd_kafka_mock_clear_request_errors(mcluster, (int16_t)api);
                return ok(NULL);
        }
        if (argc < 4 || (api = parse_api(argv[1])) < 0 ||
            parse_long(argv[2], 1, one ? 100000 : MAX_ERRS, &n) ||
            (!one && argc - 3 != n))
                return fail("usage: errors API N ERR (N up to 100000), "
                            "errors API N ERR1..ERRN (N up to %d), "
                            "or errors API 0",
                            MAX_ERRS);
        errs = calloc((size_t)n, sizeof(*errs));
        for (i = 0; i < n; i++) {
                if (parse_err(argv[one ? 3 : 3 + i], &errs[i])) {
                        fail("unknown error code %s", argv[one ? 3 : 3 + i]);
                        free(errs);
                        return;
                }
        }
        rd_kafka_mock_push_request_errors_array(mcluster, (int16_t)api,
                                                (size_t)n, errs);
        free(errs);
        ok(NULL);
}

/* broker-errors B API N ERR [RTT_MS] */
static void cmd_broker_errors(char **argv, int argc) {
        rd_kafka_resp_err_t err;
        int32_t b;
        long n, rtt = 0;
        int api, i;
        if ((argc != 5 && argc != 6) || parse_broker(argv[1], &b) ||
            (api = parse_api(argv[2])) < 0 ||
            parse_long(argv[3], 1, 100000, &n) ||
            (argc == 6 && parse_long(argv[5], 0, INT_MAX, &rtt)))
                return fail("usage: broker-errors BROKER API N ERR [RTT_MS]");
        if (parse_err(argv[4], &err))
                return fail("unknown error code %s", argv[4]);
        for (i = 0; i < n; i++) {
                rd_kafka_resp_err_t r =
                    rd_kafka_mock_broker_push_request_error_rtts(
                        mcluster, b, (int16_t)api, 1, err, (int)rtt);
                if (r)
                        return answer_err(r);
        }
        ok(NULL);
}

/* broker-error-count B API: errors left on the broker's stack. */
static void cmd_broker_error_count(char **argv, int argc) {
        rd_kafka_resp_err_t r;
        size_t cnt = 0;
        int32_t b;
        int api;
        if (argc != 3 || parse_broker(argv[1], &b) ||
            (api = parse_api(argv[2])) < 0)
                return fail("usage: broker-error-count BROKER API");
        r = rd_kafka_mock_broker_error_stack_cnt(mcluster, b, (int16_t)api,
                                                 &cnt);
        if (r)
                return answer_err(r);
        ok("%zu", cnt);
}

static void cmd_clear_errors(char **argv, int argc) {
        int api;
        if (argc != 2 || (api = parse_api(argv[1])) < 0)
                return fail("usage: clear-errors API");
        rd_kafka_mock_clear_request_errors(mcluster, (int16_t)api);
        ok(NULL);
}

/* leader TOPIC P|all B|none */
static void cmd_leader(char **argv, int argc) {
        int32_t b;
        long p;
        if (argc != 4 || (strcmp(argv[2], "all") &&
                          parse_long(argv[2], 0, INT32_MAX, &p)))
                return fail("usage: leader TOPIC PARTITION|all BROKER|none");
        if (!strcmp(argv[3], "none"))
                b = -1;
        else if (parse_broker(argv[3], &b))
                return fail("no broker %s (1..%d, or none)", argv[3],
                            broker_cnt);
        if (strcmp(argv[2], "all"))
                return answer_err(rd_kafka_mock_partition_set_leader(
                    mcluster, argv[1], (int32_t)p, b));
        /* The mock cannot tell a topic's partition count: set partitions
         * until one does not exist. Answers the count. */
        for (p = 0;; p++) {
                rd_kafka_resp_err_t r = rd_kafka_mock_partition_set_leader(
                    mcluster, argv[1], (int32_t)p, b);
                if (r == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART && p > 0)
                        return ok("%ld", p);
                if (r)
                        return answer_err(r);
        }
}

/* topic NAME [PARTS [REPL]] */
static void cmd_topic(char **argv, int argc) {
        long parts = 8, repl = broker_cnt < 3 ? broker_cnt : 3;
        if (argc < 2 || argc > 4 ||
            (argc > 2 && parse_long(argv[2], 1, 100000, &parts)) ||
            (argc > 3 && parse_long(argv[3], 1, broker_cnt, &repl)))
                return fail("usage: topic NAME [PARTITIONS [REPLICATION]]");
        rd_kafka_resp_err_t err;
        long i;
        if ((err = rd_kafka_mock_topic_create(mcluster, argv[1], (int)parts,
                                              (int)repl)))
                return answer_err(err);
        /* The mock picks each partition's leader at random among its
         * replicas, so with 8 partitions one broker of 3 leads none about
         * one time in 25 and a test that takes it down sees nothing. Lead
         * partition P from broker P % brokers + 1, as a test expects. */
        for (i = 0; i < parts; i++)
                if ((err = rd_kafka_mock_partition_set_leader(
                         mcluster, argv[1], (int32_t)i,
                         (int32_t)(i % broker_cnt) + 1)))
                        return answer_err(err);
        ok(NULL);
}

/* topic-error TOPIC ERR (0 or NO_ERROR clears it) */
static void cmd_topic_error(char **argv, int argc) {
        rd_kafka_resp_err_t err;
        if (argc != 3)
                return fail("usage: topic-error TOPIC ERR");
        if (parse_err(argv[2], &err))
                return fail("unknown error code %s", argv[2]);
        rd_kafka_mock_topic_set_error(mcluster, argv[1], err);
        ok(NULL);
}

/* apiversion API MIN MAX (-1 -1 disables the API) */
static void cmd_apiversion(char **argv, int argc) {
        long min, max;
        int api, impl;
        if (argc != 4 || (api = parse_api(argv[1])) < 0 ||
            parse_long(argv[2], -1, 32767, &min) ||
            parse_long(argv[3], -1, 32767, &max) || min > max)
                return fail("usage: apiversion API MIN MAX");
        impl = api_max(api);
        if (max > impl)
                return fail("the mock implements %s %d up to v%d", argv[1],
                            api, impl);
        answer_err(rd_kafka_mock_set_apiversion(mcluster, (int16_t)api,
                                                (int16_t)min, (int16_t)max));
}

static void run(char *line) {
        char *argv[MAX_ARGS + 1], *save = NULL, *tok;
        int argc = 0;
        const char *cmd;

        for (tok = strtok_r(line, " \t\r\n", &save); tok && argc <= MAX_ARGS;
             tok = strtok_r(NULL, " \t\r\n", &save))
                argv[argc++] = tok;
        if (argc > MAX_ARGS)
                return fail("too many arguments");
        if (argc == 0)
                return fail("empty command");
        cmd = argv[0];

        if (!strcmp(cmd, "ping"))
                ok(NULL);
        else if (!strcmp(cmd, "bootstrap"))
                ok("%s", rd_kafka_mock_cluster_bootstraps(mcluster));
        else if (!strcmp(cmd, "down"))
                cmd_updown(argv, argc, 0);
        else if (!strcmp(cmd, "up"))
                cmd_updown(argv, argc, 1);
        else if (!strcmp(cmd, "rtt"))
                cmd_rtt(argv, argc);
        else if (!strcmp(cmd, "errors"))
                cmd_errors(argv, argc);
        else if (!strcmp(cmd, "broker-errors"))
                cmd_broker_errors(argv, argc);
        else if (!strcmp(cmd, "broker-error-count"))
                cmd_broker_error_count(argv, argc);
        else if (!strcmp(cmd, "clear-errors"))
                cmd_clear_errors(argv, argc);
        else if (!strcmp(cmd, "leader"))
                cmd_leader(argv, argc);
        else if (!strcmp(cmd, "topic"))
                cmd_topic(argv, argc);
        else if (!strcmp(cmd, "topic-error"))
                cmd_topic_error(argv, argc);
        else if (!strcmp(cmd, "apiversion"))
                cmd_apiversion(argv, argc);
        else
                fail("unknown command %s", cmd);
}

/* Versions capped at startup, around what the 2.0.2 mock gets wrong for
 * clients other than librdkafka. See test/kafka/README.md. */
static const struct {
        int key;
        int max;
} caps[] = {
    {2, 3},  /* ListOffsets: v4+ answers LeaderEpoch as int64, not int32 */
    {22, 2}, /* InitProducerId: from v3 an idempotent producer's epoch bump
              * (KIP-360) is refused, INVALID_PRODUCER_ID_MAPPING: the mock
              * takes its null transactional id for a non-null one */
    /* Group APIs at their last non-flexible versions (2.0.2's mock implements
     * no more than these anyway; the caps hold if the library grows). */
    {8, 7},  /* OffsetCommit */
    {9, 5},  /* OffsetFetch */
    {10, 2}, /* FindCoordinator */
    {11, 5}, /* JoinGroup */
    {12, 3}, /* Heartbeat */
    {13, 1}, /* LeaveGroup (2.0.2 implements v0..1) */
    {14, 3}, /* SyncGroup */
};

int main(int argc, char **argv) {
        char errstr[512];
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;
        pthread_t poker;
        const char *bootstraps;
        char *line = NULL;
        size_t cap = 0;
        long n     = 3;
        size_t i;

        /* The test process's death closes our stdin: that EOF ends us. */
        signal(SIGPIPE, SIG_IGN);

        if (argc > 2 || (argc == 2 && parse_long(argv[1], 1, 64, &n))) {
                fprintf(stderr, "usage: %s [BROKERS (1..64, default 3)]\n",
                        argv[0]);
                return 2;
        }
        if (getenv("MOCK_POKE_MS"))
                poke_ms = atoi(getenv("MOCK_POKE_MS"));
        broker_cnt = (int)n;

        conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof(errstr)))
                fprintf(stderr, "mock-cluster: %s\n", errstr);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "mock-cluster: rd_kafka_new: %s\n", errstr);
                return 1;
        }
        mcluster = rd_kafka_mock_cluster_new(rk, broker_cnt);
        if (!mcluster) {
                fprintf(stderr, "mock-cluster: cannot create the cluster\n");
                return 1;
        }
        bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
        if (parse_listeners(bootstraps)) {
                fprintf(stderr, "mock-cluster: bad bootstrap list %s\n",
                        bootstraps);
                return 1;
        }
        if (poke_ms > 0 &&
            (errno = pthread_create(&poker, NULL, poker_main, NULL))) {
                perror("mock-cluster: pthread_create");
                return 1;
        }

        for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
                rd_kafka_resp_err_t r;
                set_in_flight(1);
                r = rd_kafka_mock_set_apiversion(mcluster, (int16_t)caps[i].key,
                                                 0, (int16_t)caps[i].max);
                set_in_flight(0);
                if (r) {
                        fprintf(stderr, "mock-cluster: capping API %d: %s\n",
                                caps[i].key, rd_kafka_err2str(r));
                        return 1;
                }
        }

        printf("bootstrap %s\n", bootstraps);
        fflush(stdout);

        while (getline(&line, &cap, stdin) != -1) {
                set_in_flight(1);
                run(line);
                set_in_flight(0);
        }
        free(line);

        pthread_mutex_lock(&poke_lock);
        stopping = 1;
        pthread_cond_signal(&poke_cond);
        pthread_mutex_unlock(&poke_lock);
        if (poke_ms > 0)
                pthread_join(poker, NULL);

        rd_kafka_mock_cluster_destroy(mcluster);
        rd_kafka_destroy(rk);
        free(listeners);
        return 0;
}
