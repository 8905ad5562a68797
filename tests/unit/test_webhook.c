/*
 * test_webhook.c -- alerts on decisions (webhook.h): the document and its
 * Slack text, the filter, the alerts: section of the config, and the
 * queue's bound (the oldest waiting delivery goes, counted). Delivery
 * itself is tested against real receivers in tests/e2e/serve_webhooks.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "webhook.h"

static rp_alert scan_block(uint64_t incident) {
    rp_alert a;
    memset(&a, 0, sizeof a);
    assert_int_equal(rp_key_parse("ip:198.51.100.66", 16, &a.key), RP_OK);
    a.action = RP_ACTION_BLOCK;
    a.score = 80;
    a.incident_id = incident;
    a.decided_us = 1796169987000000LL; /* 2026-12-01T... */
    a.expires_us = a.decided_us + 900 * 1000000LL;
    snprintf(a.route, sizeof a.route, "GET /admin/backup-3.php");
    snprintf(a.user_agent, sizeof a.user_agent, "Mozilla/5.0 (compatible; scanner)");
    a.n_findings = 2;
    a.findings[0].detector = "scan";
    a.findings[0].score = 0.8;
    snprintf(a.findings[0].summary, sizeof a.findings[0].summary,
             "scan: 3 sensitive paths (/<script>&x)");
    a.findings[1].detector = "signature";
    a.findings[1].score = 0.4;
    snprintf(a.findings[1].summary, sizeof a.findings[1].summary, "signature: 1 known probe");
    a.n_samples = 1;
    snprintf(a.samples[0], sizeof a.samples[0], "GET /admin/backup-3.php 404");
    return a;
}

static rp_webhook_config any_webhook(void) {
    rp_webhook_config wh;
    memset(&wh, 0, sizeof wh);
    wh.reactions = (1u << RP_ACTION_THROTTLE) | (1u << RP_ACTION_BLOCK);
    wh.manual = true;
    snprintf(wh.url, sizeof wh.url, "http://127.0.0.1:1/hook");
    return wh;
}

static void test_document_carries_the_decision_and_its_evidence(void **state) {
    rp_alert a = scan_block(17);
    char *body = rp_webhook_document(&a, "https://rampart.example.com/", "web-1");
    assert_non_null(body);
    json_error_t jerr;
    json_t *o = json_loads(body, 0, &jerr);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "key")), "ip:198.51.100.66");
    assert_string_equal(json_string_value(json_object_get(o, "action")), "block");
    assert_string_equal(json_string_value(json_object_get(o, "source")), "engine");
    assert_true(json_is_false(json_object_get(o, "manual")));
    assert_true(json_real_value(json_object_get(o, "score")) == 80.0);
    assert_int_equal(json_integer_value(json_object_get(o, "incident_id")), 17);
    assert_string_equal(json_string_value(json_object_get(o, "incident_url")),
                        "https://rampart.example.com/ui/#/client/ip:198.51.100.66");
    assert_string_equal(json_string_value(json_object_get(o, "incident_api_url")),
                        "https://rampart.example.com/v1/incidents/17");
    assert_string_equal(json_string_value(json_object_get(o, "node")), "web-1");
    assert_int_equal(json_integer_value(json_object_get(o, "duration_s")), 900);
    json_t *dets = json_object_get(o, "detectors");
    assert_int_equal(json_array_size(dets), 2);
    assert_string_equal(json_string_value(json_array_get(dets, 0)), "scan");
    json_t *ev = json_object_get(o, "evidence");
    assert_string_equal(json_string_value(json_array_get(ev, 1)), "signature: 1 known probe");
    assert_string_equal(json_string_value(json_array_get(json_object_get(o, "requests"), 0)),
                        "GET /admin/backup-3.php 404");
    json_decref(o);
    free(body);
}

static void test_slack_text_is_one_summary_line_then_evidence_escaped(void **state) {
    rp_alert a = scan_block(17);
    char *body = rp_webhook_document(&a, "https://r.example", "web-1");
    json_t *o = json_loads(body, 0, NULL);
    const char *text = json_string_value(json_object_get(o, "text"));
    assert_string_equal(text,
                        "Rampart blocked ip:198.51.100.66 for 15m (score 80: scan, signature) on "
                        "web-1 - <https://r.example/ui/#/client/ip:198.51.100.66|incident #17>\n"
                        "- scan: 3 sensitive paths (/&lt;script&gt;&amp;x)\n"
                        "- signature: 1 known probe\n"
                        "- requests: GET /admin/backup-3.php 404");
    /* the evidence list keeps the text as the engine wrote it */
    assert_string_equal(json_string_value(json_array_get(json_object_get(o, "evidence"), 0)),
                        "scan: 3 sensitive paths (/<script>&x)");
    json_decref(o);
    free(body);
}

static void test_manual_document_has_reason_and_no_score(void **state) {
    rp_alert a;
    memset(&a, 0, sizeof a);
    assert_int_equal(rp_key_parse("ip:203.0.113.5", 14, &a.key), RP_OK);
    a.action = RP_ACTION_THROTTLE;
    a.manual = true;
    a.decided_us = 1796169987000000LL;
    a.expires_us = a.decided_us + 3600 * 1000000LL;
    snprintf(a.reason, sizeof a.reason, "ticket 42");
    char *body = rp_webhook_document(&a, "http://127.0.0.1:9090", "n");
    json_t *o = json_loads(body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "source")), "manual");
    assert_true(json_is_null(json_object_get(o, "score")));
    assert_true(json_is_null(json_object_get(o, "incident_id")));
    assert_string_equal(json_string_value(json_object_get(o, "reason")), "ticket 42");
    assert_string_equal(json_string_value(json_array_get(json_object_get(o, "detectors"), 0)),
                        "manual");
    assert_string_equal(json_string_value(json_object_get(o, "text")),
                        "Rampart throttled ip:203.0.113.5 for 1h (manual decision: ticket 42) on n "
                        "- <http://127.0.0.1:9090/ui/#/client/ip:203.0.113.5|client>");
    json_decref(o);
    free(body);
}

static void test_a_user_agent_that_is_not_utf8_does_not_lose_the_document(void **state) {
    rp_alert a = scan_block(3);
    snprintf(a.user_agent, sizeof a.user_agent, "bad \xff\xfe agent");
    char *body = rp_webhook_document(&a, "http://x", "n");
    assert_non_null(body);
    json_t *o = json_loads(body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "user_agent")), "(not UTF-8)");
    json_decref(o);
    free(body);
}

static void test_filter_reactions_score_detectors_and_manual(void **state) {
    rp_alert block = scan_block(1);
    rp_alert manual = block;
    manual.manual = true;
    manual.score = 0;
    manual.n_findings = 0;
    rp_webhook_config wh = any_webhook();
    assert_true(rp_webhook_matches(&wh, &block));
    assert_true(rp_webhook_matches(&wh, &manual));

    wh.reactions = 1u << RP_ACTION_THROTTLE; /* throttles only */
    assert_false(rp_webhook_matches(&wh, &block));
    assert_false(rp_webhook_matches(&wh, &manual)); /* reactions apply to manual ones too */
    wh = any_webhook();

    wh.min_score = 80; /* at the score: in */
    assert_true(rp_webhook_matches(&wh, &block));
    wh.min_score = 80.5;
    assert_false(rp_webhook_matches(&wh, &block));
    assert_true(rp_webhook_matches(&wh, &manual)); /* manual decisions have no score */
    wh = any_webhook();

    wh.detectors = 1u << rp_detector_find("auth", 4);
    assert_false(rp_webhook_matches(&wh, &block));
    wh.detectors |= 1u << rp_detector_find("signature", 9); /* its second finding */
    assert_true(rp_webhook_matches(&wh, &block));
    assert_true(rp_webhook_matches(&wh, &manual));
    wh.manual = false;
    assert_false(rp_webhook_matches(&wh, &manual));

    rp_alert allow = manual;
    allow.action = RP_ACTION_ALLOW; /* never a reaction a webhook takes */
    rp_webhook_config any = any_webhook();
    assert_false(rp_webhook_matches(&any, &allow));
}

static rp_webhooks *paused(int queue, int n_webhooks) {
    rp_alerts_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.queue = (uint32_t)queue;
    cfg.retries = 1;
    cfg.backoff_us = cfg.max_backoff_us = 1000000;
    cfg.connections = 1;
    cfg.n_webhooks = n_webhooks;
    for (int i = 0; i < n_webhooks; i++) cfg.webhooks[i] = any_webhook();
    rp_webhook_targets *t = NULL;
    rp_error err = {0};
    assert_int_equal(rp_webhook_targets_prepare(&cfg, &t, &err), RP_OK);
    rp_webhooks *w = NULL;
    assert_int_equal(rp_webhooks_start(t, NULL, NULL, false, &w, &err), RP_OK);
    return w;
}

static void test_full_queue_drops_the_oldest_and_counts_it(void **state) {
    rp_webhooks *w = paused(3, 1);
    for (uint64_t id = 1; id <= 5; id++) {
        rp_alert a = scan_block(id);
        assert_true(rp_webhooks_notify(w, &a));
    }
    rp_webhooks_stats s;
    rp_webhooks_get_stats(w, &s);
    assert_int_equal(s.depth, 3);
    assert_int_equal(s.capacity, 3);
    assert_int_equal(s.dropped_queue_full, 2);
    uint64_t ids[8];
    assert_int_equal(rp_webhooks_queued(w, ids, 8), 3);
    assert_int_equal(ids[0], 3); /* 1 and 2 went */
    assert_int_equal(ids[2], 5);
    rp_webhooks_stop(w, 0);
}

static void test_one_decision_is_one_delivery_per_webhook_that_wants_it(void **state) {
    rp_webhooks *w = paused(10, 3);
    rp_alert a = scan_block(9);
    rp_webhooks_notify(w, &a);
    rp_webhooks_stats s;
    rp_webhooks_get_stats(w, &s);
    assert_int_equal(s.depth, 3);
    rp_alert none = a;
    none.action = RP_ACTION_MONITOR;
    assert_false(rp_webhooks_notify(w, &none));
    rp_webhooks_get_stats(w, &s);
    assert_int_equal(s.depth, 3);
    rp_webhooks_stop(w, 0);
}

static void test_metrics_name_each_webhook_and_the_queue(void **state) {
    rp_webhooks *w = paused(2, 1);
    for (uint64_t id = 1; id <= 3; id++) {
        rp_alert a = scan_block(id);
        rp_webhooks_notify(w, &a);
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    rp_webhooks_metrics(w, f);
    fclose(f);
    assert_non_null(strstr(buf, "rampart_webhook_queue_depth 2\n"));
    assert_non_null(strstr(buf, "rampart_webhook_queue_capacity 2\n"));
    /* unnamed: the URL's host names it (the URL itself is a secret) */
    assert_non_null(strstr(buf, "rampart_webhook_enqueued_total{webhook=\"127.0.0.1\"} 3\n"));
    assert_non_null(
        strstr(buf, "rampart_webhook_dropped_total{webhook=\"127.0.0.1\",reason=\"queue_full\"} 1\n"));
    assert_null(strstr(buf, "/hook"));
    free(buf);
    rp_webhooks_stop(w, 0);
}

static rp_config *parse(const char *yaml, rp_error *err) {
    rp_config *c = NULL;
    memset(err, 0, sizeof *err);
    rp_config_parse(yaml, strlen(yaml), "t.yaml", &c, err);
    return c;
}

static void test_config_reads_the_alerts_section(void **state) {
    rp_error err;
    rp_config *c = parse("alerts:\n"
                         "  public_url: https://r.example\n"
                         "  queue: 50\n"
                         "  backoff: 250ms\n"
                         "  webhooks:\n"
                         "    - url: https://hooks.slack.com/services/T/B/X\n"
                         "      reactions: [block]\n"
                         "      min_score: 70\n"
                         "      detectors: [scan, auth]\n"
                         "      manual: false\n"
                         "      timeout: 2s\n"
                         "      headers: {X-Team: sec}\n",
                         &err);
    assert_non_null(c);
    const rp_alerts_config *al = &c->alerts;
    assert_string_equal(al->public_url, "https://r.example");
    assert_int_equal(al->queue, 50);
    assert_int_equal(al->backoff_us, 250000);
    assert_int_equal(al->retries, 5); /* the default */
    assert_int_equal(al->n_webhooks, 1);
    const rp_webhook_config *wh = &al->webhooks[0];
    assert_int_equal(wh->reactions, 1u << RP_ACTION_BLOCK);
    assert_true(wh->min_score == 70);
    assert_int_equal(wh->detectors, (1u << rp_detector_find("scan", 4)) | (1u << rp_detector_find("auth", 4)));
    assert_false(wh->manual);
    assert_int_equal(wh->timeout_us, 2000000);
    assert_int_equal(wh->n_headers, 1);
    assert_string_equal(wh->header_values[0], "sec");
    rp_config_free(c);
}

static void test_config_refuses_bad_webhooks_without_echoing_the_url(void **state) {
    static const struct {
        const char *yaml, *says;
    } bad[] = {
        {"alerts:\n  webhooks:\n    - url: ftp://x/secret-path\n", "http:// or https://"},
        {"alerts:\n  webhooks:\n    - name: a\n", "needs url"},
        {"alerts:\n  webhooks:\n    - url: http://x\n      reactions: [monitor]\n", "unknown reaction"},
        {"alerts:\n  webhooks:\n    - url: http://x\n      detectors: [scna]\n", "unknown detector"},
        {"alerts:\n  webhooks:\n    - url: http://x\n      min_score: 101\n", "between 0 and 100"},
        {"alerts:\n  webhooks:\n    - url: http://x\n      headers: {\"a b\": c}\n", "header name"},
        {"alerts:\n  webhooks:\n    - url: http://x\n      timeout: 5m\n", "at most 60s"},
        {"alerts:\n  queue: 0\n", "between 1 and 100000"},
        {"alerts:\n  backoff: 10s\n  max_backoff: 1s\n", "at least backoff"},
        {"alerts:\n  webhooks:\n    - {url: http://a, name: x}\n    - {url: http://b, name: x}\n",
         "two webhooks named"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rp_error err;
        rp_config *c = parse(bad[i].yaml, &err);
        if (c) fail_msg("accepted: %s", bad[i].yaml);
        if (!strstr(err.message, bad[i].says)) fail_msg("%s: said '%s'", bad[i].yaml, err.message);
        assert_null(strstr(err.message, "secret-path"));
    }
}

static void test_header_file_is_read_at_prepare_and_a_missing_one_refused(void **state) {
    char path[] = "/tmp/rampart-test-webhook-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "Bearer s3cret\n", 14), 14);
    close(fd);
    rp_alerts_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.queue = 1;
    cfg.n_webhooks = 1;
    cfg.webhooks[0] = any_webhook();
    cfg.webhooks[0].n_headers = 1;
    snprintf(cfg.webhooks[0].header_names[0], 64, "Authorization");
    snprintf(cfg.webhooks[0].header_values[0], 256, "%s", path);
    cfg.webhooks[0].header_from_file[0] = true;
    rp_webhook_targets *t = NULL;
    rp_error err = {0};
    assert_int_equal(rp_webhook_targets_prepare(&cfg, &t, &err), RP_OK);
    rp_webhook_targets_free(t);
    unlink(path);
    assert_int_not_equal(rp_webhook_targets_prepare(&cfg, &t, &err), RP_OK);
    assert_null(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_document_carries_the_decision_and_its_evidence),
        cmocka_unit_test(test_slack_text_is_one_summary_line_then_evidence_escaped),
        cmocka_unit_test(test_manual_document_has_reason_and_no_score),
        cmocka_unit_test(test_a_user_agent_that_is_not_utf8_does_not_lose_the_document),
        cmocka_unit_test(test_filter_reactions_score_detectors_and_manual),
        cmocka_unit_test(test_full_queue_drops_the_oldest_and_counts_it),
        cmocka_unit_test(test_one_decision_is_one_delivery_per_webhook_that_wants_it),
        cmocka_unit_test(test_metrics_name_each_webhook_and_the_queue),
        cmocka_unit_test(test_config_reads_the_alerts_section),
        cmocka_unit_test(test_config_refuses_bad_webhooks_without_echoing_the_url),
        cmocka_unit_test(test_header_file_is_read_at_prepare_and_a_missing_one_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
