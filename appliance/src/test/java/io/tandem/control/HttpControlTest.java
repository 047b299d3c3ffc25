package io.tandem.control;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import io.tandem.events.EventLog;
import io.tandem.ha.PairView;
import io.tandem.health.HealthMonitor;
import io.tandem.statesync.SyncStatus;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The HTTP side through Netty's own channel (the handler and codecs as served, no socket):
 * JSON endpoints, paging, read-only refusals, and the Prometheus exposition parsed back.
 */
class HttpControlTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final EventLog events = new EventLog();
    private StubDataplane dataplane;

    private EmbeddedChannel channel() throws Exception {
        dataplane = new StubDataplane().withWebFlows(250, System.currentTimeMillis());
        dataplane.sync = new SyncStatus(true, true, "lb2", 1234, 0, 3, 0, 0, 0, true, 2, null);
        FlowStats stats = new FlowStats(dataplane);
        Supplier<PairView> view = OperatorCommands.view("lb1", null, dataplane);
        Map<String, HealthMonitor.Report> health = Map.of("web/198.19.0.12:8080", new HealthMonitor.Report("down", "connection refused", 9));
        ControlApi api = OperatorCommands.build(new OperatorCommands.Parts("lb1", null, dataplane, stats, events, new History(),
                () -> "reloaded", () -> health));
        return new EmbeddedChannel(HttpControlServer.handler(api, new Metrics(dataplane, stats, view, () -> 7, () -> health)));
    }

    private static FullHttpResponse get(EmbeddedChannel ch, HttpMethod method, String uri) {
        ch.writeInbound(new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, method, uri));
        return ch.readOutbound();
    }

    private static String body(FullHttpResponse r) {
        String s = r.content().toString(StandardCharsets.UTF_8);
        r.release();
        return s;
    }

    @Test
    void flowsComeInFilteredPagesNeverTheWholeTable() throws Exception {
        EmbeddedChannel ch = channel();
        JsonNode first = JSON.readTree(body(get(ch, HttpMethod.GET, "/api/flows?limit=100&backend=198.19.0.11:8080")));
        assertTrue(first.path("ok").asBoolean(), first.toString());
        assertEquals(100, first.path("result").path("flows").size());
        first.path("result").path("flows").forEach(f -> assertEquals("198.19.0.11:8080", f.path("backend").asText()));
        int seen = 100;
        JsonNode page = first;
        while (!page.path("result").path("next_cursor").isNull()) {
            page = JSON.readTree(body(get(ch, HttpMethod.GET,
                    "/api/flows?limit=100&backend=198.19.0.11:8080&cursor=" + page.path("result").path("next_cursor").asInt())));
            seen += page.path("result").path("flows").size();
        }
        assertEquals(125, seen, "every flow to .11 once, over the pages");
        JsonNode bad = JSON.readTree(body(get(ch, HttpMethod.GET, "/api/flows?limit=5000")));
        assertEquals("limit: 5000 is not within 1-1000", bad.path("error").asText());
        assertEquals("state: 'open' is not a flow state (e.g. TCP_ESTABLISHED, UDP_ASSURED)",
                JSON.readTree(body(get(ch, HttpMethod.GET, "/api/flows?state=open"))).path("error").asText());
    }

    @Test
    void servicesCountTheirFlowsPerBackend() throws Exception {
        EmbeddedChannel ch = channel();
        JsonNode services = JSON.readTree(body(get(ch, HttpMethod.GET, "/api/services"))).path("result");
        assertEquals("web", services.get(0).path("name").asText());
        assertEquals(250, services.get(0).path("flows").asLong());
        assertEquals(125, services.get(0).path("backends").get(1).path("flows").asLong());
        assertEquals("down", services.get(0).path("backends").get(1).path("health").asText());
        assertEquals("connection refused", services.get(0).path("backends").get(1).path("check").asText());
        assertEquals("unchecked", services.get(0).path("backends").get(0).path("health").asText());
        assertEquals(0, services.get(1).path("flows").asLong());
    }

    @Test
    void theHttpSideIsReadOnly() throws Exception {
        EmbeddedChannel ch = channel();
        FullHttpResponse drain = get(ch, HttpMethod.GET, "/api/drain?backend=198.19.0.11:8080");
        assertEquals(400, drain.status().code());
        assertEquals("'drain' changes the pair: only over the control socket (tandemctl)",
                JSON.readTree(body(drain)).path("error").asText());
        assertFalse(dataplane.services().isDrained("web", dataplane.services().services().get(0).backends().get(0)));
        FullHttpResponse post = get(ch, HttpMethod.POST, "/api/status");
        assertEquals(405, post.status().code());
        assertEquals("GET", post.headers().get("Allow"));
        post.release();
        assertEquals(404, get(ch, HttpMethod.GET, "/api/nothing").status().code());
        assertEquals(404, get(ch, HttpMethod.GET, "/etc/passwd").status().code());
    }

    @Test
    void theStatusPageIsServedWithItsScript() throws Exception {
        EmbeddedChannel ch = channel();
        FullHttpResponse page = get(ch, HttpMethod.GET, "/");
        assertEquals("text/html; charset=utf-8", page.headers().get("Content-Type"));
        assertEquals("default-src 'self'", page.headers().get("Content-Security-Policy"));
        assertTrue(body(page).contains("<script src=\"page.js\" defer></script>"));
        assertTrue(body(get(ch, HttpMethod.GET, "/page.js")).contains("async function refresh()"));
    }

    @Test
    void prometheusExpositionParsesAndSaysWhatTheBoxKnows() throws Exception {
        EmbeddedChannel ch = channel();
        FullHttpResponse r = get(ch, HttpMethod.GET, "/metrics");
        assertEquals(200, r.status().code());
        assertTrue(r.headers().get("Content-Type").startsWith("text/plain; version=0.0.4"), r.headers().get("Content-Type"));
        Map<String, Double> samples = parse(body(r));
        assertEquals(250.0, samples.get("tandem_flows{state=\"tcp_established\"}"));
        assertEquals(0.0, samples.get("tandem_flows{state=\"udp_assured\"}"));
        assertEquals(1234.0, samples.get("tandem_sync_records_sent_total"));
        assertEquals(2.0, samples.get("tandem_sync_range_resyncs_total"));
        assertEquals(3.0, samples.get("tandem_sync_queue_depth"));
        assertEquals(1.0, samples.get("tandem_role{role=\"active\"}"), "a box alone is active");
        assertEquals(0.0, samples.get("tandem_role{role=\"standby\"}"));
        assertEquals(0.0, samples.get("tandem_in_sync"), "alone: in sync with no one");
        assertEquals(7.0, samples.get("tandem_vrrp_transitions_total"));
        assertEquals(0.0, samples.get("tandem_dropped_packets_total{reason=\"no_service\"}"));
        assertEquals(0.0, samples.get("tandem_tun_queue_drops_total"), "the kernel's count of a full TUN queue is exported");
        assertEquals(4096.0, samples.get("tandem_flow_capacity"));
        assertEquals(0.0, samples.get("tandem_backend_up{backend=\"198.19.0.12:8080\",service=\"web\"}"));
        assertEquals(9.0, samples.get("tandem_health_checks_total{backend=\"198.19.0.12:8080\",service=\"web\"}"));
        assertNull(samples.get("tandem_flows{state=\"free\"}"), "no FREE state exported");
        assertEquals(3.0, samples.get("tandem_fastpath_packets_total{what=\"created\"}"), "the kernel program's counters are exported");
        assertEquals(7.0, samples.get("tandem_fastpath_packets_total{what=\"forwarded\"}"));
        assertEquals(0.0, samples.get("tandem_half_open_early_drops_total"));
        assertNull(samples.get("tandem_sync_to_kernel_lag_seconds{quantile=\"0.5\"}"), "no lag before any peer change");
    }

    /** Prometheus text format: "# HELP/TYPE" comments and "name{labels} value" lines; anything else fails the test. */
    static Map<String, Double> parse(String exposition) {
        Pattern line = Pattern.compile("([a-zA-Z_:][a-zA-Z0-9_:]*(?:\\{[^}]*})?) (\\S+)");
        Map<String, Double> samples = new HashMap<>();
        for (String l : exposition.split("\n")) {
            if (l.isEmpty() || l.startsWith("# HELP ") || l.startsWith("# TYPE ")) {
                continue;
            }
            Matcher m = line.matcher(l);
            assertTrue(m.matches(), "not a sample line: " + l);
            samples.put(m.group(1), Double.parseDouble(m.group(2)));
        }
        return samples;
    }
}
