package io.tandem.control;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tandem.events.EventLog;
import io.tandem.ha.PairView;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

import static io.tandem.lab.NamespaceLab.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The HTTP side on a real socket: a connection cap, an idle timeout, bounded work and 400s for bad parameters. */
class OperatorServerLimitsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private HttpControlServer server;
    private final List<Socket> sockets = new ArrayList<>();

    private ControlApi api(StubDataplane dataplane) {
        return OperatorCommands.build(new OperatorCommands.Parts("lb1", null, dataplane, new FlowStats(dataplane), new EventLog(),
                new History(), () -> "reloaded", Map::of));
    }

    private HttpControlServer start(ConnectionGuard guard) throws Exception {
        StubDataplane dataplane = new StubDataplane().withWebFlows(250, System.currentTimeMillis());
        FlowStats stats = new FlowStats(dataplane);
        Supplier<PairView> view = OperatorCommands.view("lb1", null, dataplane);
        server = HttpControlServer.start("127.0.0.1", 0, api(dataplane), new Metrics(dataplane, stats, view, () -> 0, Map::of), guard);
        return server;
    }

    @AfterEach
    void close() throws IOException {
        for (Socket s : sockets) {
            s.close();
        }
        if (server != null) {
            server.close();
        }
    }

    private Socket connect() throws IOException {
        Socket s = new Socket();
        s.connect(new InetSocketAddress("127.0.0.1", server.port()), 2000);
        s.setSoTimeout(5000);
        sockets.add(s);
        return s;
    }

    /** One HTTP/1.0 GET on a new connection: the status line and the body. */
    private String get(String uri) throws IOException {
        try (Socket s = connect()) {
            OutputStream out = s.getOutputStream();
            out.write(("GET " + uri + " HTTP/1.0\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static boolean closedByServer(Socket s) {
        try {
            InputStream in = s.getInputStream();
            return in.read() < 0;
        } catch (IOException e) {
            return true;
        }
    }

    @Test
    void beyondTheCapTheQuietestConnectionMakesRoomAndIdleOnesTimeOut() throws Exception {
        ConnectionGuard guard = new ConnectionGuard("http", 8, Duration.ofMillis(400));
        start(guard);
        List<Socket> idle = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            idle.add(connect());
        }
        await(() -> guard.evicted() == 12, Duration.ofSeconds(5), () -> "evicted " + guard.evicted());
        assertTrue(get("/api/status").startsWith("HTTP/1.1 200"), "a new client is served while idle ones fill the server");
        long closed = idle.stream().filter(OperatorServerLimitsTest::closedByServer).count();
        assertEquals(20, closed, "the quietest closed for each newcomer beyond the cap, the others once idle for 400 ms");
        await(() -> guard.open() == 0, Duration.ofSeconds(5), () -> guard.open() + " open");
        assertEquals(20, guard.evicted() + guard.idleClosed(), "every idle one evicted or timed out: evicted " + guard.evicted()
                + ", idle " + guard.idleClosed());
        String status = get("/api/status");
        assertTrue(status.startsWith("HTTP/1.1 200"), status);
    }

    @Test
    void badParametersAreA400AndAFilterThatMatchesNothingEndsItsPageWithinTheBudget() throws Exception {
        start(new ConnectionGuard("http", 8, Duration.ofSeconds(30)));
        for (String uri : List.of("/api/events?limit=-1", "/api/events?limit=100000", "/api/events?after=x", "/api/history?after=-5",
                "/api/flows?limit=0", "/api/flows?cursor=-1")) {
            String answer = get(uri);
            assertTrue(answer.startsWith("HTTP/1.1 400"), uri + ":\n" + answer);
            JsonNode body = JSON.readTree(answer.substring(answer.indexOf("\r\n\r\n") + 4));
            assertTrue(body.path("error").asText().startsWith(uri.replaceAll(".*[?&]([a-z]+)=.*", "$1") + ": "), body.toString());
        }
        assertTrue(get("/api/events?limit=500").startsWith("HTTP/1.1 200"));

        StubDataplane dataplane = new StubDataplane().withWebFlows(250, System.currentTimeMillis());
        int pages = 0;
        Integer cursor = 0;
        while (cursor != null) {
            FlowQuery.Page page = FlowQuery.run(dataplane, new ControlRequest("flows", false, "test",
                    Map.of("backend", "198.19.0.99", "cursor", cursor.toString())), System.currentTimeMillis(), 100);
            assertEquals(List.of(), page.flows());
            cursor = page.nextCursor();
            pages++;
        }
        assertEquals(3, pages, "250 flows, at most 100 examined a page");
    }
}
