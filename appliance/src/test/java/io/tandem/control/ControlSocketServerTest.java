package io.tandem.control;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The control socket over a real Unix socket: requests, mistakes, and who may change what. */
class ControlSocketServerTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;
    private ControlSocketServer server;
    private final List<String> calls = new ArrayList<>();

    @AfterEach
    void close() {
        if (server != null) {
            server.close();
        }
    }

    private Path start() throws Exception {
        Path socket = dir.resolve("run/tandemd.sock");
        ControlApi api = new ControlApi()
                .query("status", r -> Map.of("role", "ACTIVE", "in_sync", true))
                .mutation("failover", r -> {
                    calls.add("failover force=" + r.force() + " by=" + r.by());
                    return Map.of("accepted", true);
                })
                .query("boom", r -> {
                    throw new IllegalArgumentException("no such service 'x'");
                });
        server = ControlSocketServer.start(socket, api);
        return socket;
    }

    private static String exchange(Path socket, String... lines) throws Exception {
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.connect(UnixDomainSocketAddress.of(socket));
            channel.write(ByteBuffer.wrap(String.join("", lines).getBytes(StandardCharsets.UTF_8)));
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteBuffer buf = ByteBuffer.allocate(4096);
            int newlines = 0;
            while (newlines < lines.length && channel.read(buf) >= 0) {
                buf.flip();
                while (buf.hasRemaining()) {
                    byte b = buf.get();
                    out.write(b);
                    newlines += b == '\n' ? 1 : 0;
                }
                buf.clear();
            }
            return out.toString(StandardCharsets.UTF_8);
        }
    }

    @Test
    void answersEachRequestLineWithOneJsonLine() throws Exception {
        Path socket = start();
        assertEquals("rw-rw----", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket)), "tandemd's user and group only");
        String[] answers = exchange(socket, "{\"command\":\"status\"}\n",
                "{\"command\":\"failover\",\"force\":true,\"by\":\"alice\"}\n").split("\n");
        JsonNode status = JSON.readTree(answers[0]);
        assertTrue(status.path("ok").asBoolean());
        assertEquals("ACTIVE", status.path("result").path("role").asText());
        assertTrue(JSON.readTree(answers[1]).path("result").path("accepted").asBoolean());
        assertEquals(List.of("failover force=true by=alice"), calls, "mutations are allowed on the socket");
    }

    @Test
    void mistakesGetAClearErrorAndTheServerGoesOn() throws Exception {
        Path socket = start();
        assertEquals("unknown command 'reboot'; known: status, failover, boom",
                JSON.readTree(exchange(socket, "{\"command\":\"reboot\"}\n")).path("error").asText());
        assertTrue(JSON.readTree(exchange(socket, "not json\n")).path("error").asText().startsWith("not a control request: "));
        assertEquals("no such service 'x'", JSON.readTree(exchange(socket, "{\"command\":\"boom\"}\n")).path("error").asText());
        String huge = "{\"command\":\"status\",\"by\":\"" + "x".repeat(70_000) + "\"}\n";
        assertEquals("request longer than 65536 bytes", JSON.readTree(exchange(socket, huge)).path("error").asText());
        assertTrue(JSON.readTree(exchange(socket, "{\"command\":\"status\"}\n")).path("ok").asBoolean(), "still serving");
    }

    @Test
    void aReadOnlyTransportCannotRunMutations() throws Exception {
        ControlApi api = new ControlApi().mutation("failover", r -> {
            calls.add("failover");
            return "done";
        });
        ControlResponse refused = api.handle(new ControlRequest("failover", false, "web", null), false);
        assertFalse(refused.ok());
        assertEquals("'failover' changes the pair: only over the control socket (tandemctl)", refused.error());
        assertEquals(List.of(), calls);
    }

    @Test
    void aStaleSocketFromAKilledDaemonIsReplaced() throws Exception {
        Path socket = dir.resolve("run/tandemd.sock");
        Files.createDirectories(socket.getParent());
        Files.writeString(socket, "left behind");
        start();
        assertTrue(JSON.readTree(exchange(socket, "{\"command\":\"status\"}\n")).path("ok").asBoolean());
    }

    /** keepalived's check is answered at once even while a command waits (a failover waits for the peer). */
    @Test
    void aliveIsAnsweredWhileASlowCommandRuns() throws Exception {
        Path socket = dir.resolve("run/slow.sock");
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        ControlApi api = new ControlApi()
                .mutation("failover", r -> {
                    entered.countDown();
                    release.await(10, TimeUnit.SECONDS); // a failover waiting for the peer, until the test is done
                    return Map.of("accepted", true);
                })
                .query("alive", r -> Map.of("alive", true));
        server = ControlSocketServer.start(socket, api);
        Thread slow = new Thread(() -> {
            try {
                exchange(socket, "{\"command\":\"failover\"}\n");
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        slow.start();
        try {
            assertTrue(entered.await(5, TimeUnit.SECONDS));
            long start = System.nanoTime();
            JsonNode alive = JSON.readTree(exchange(socket, "{\"command\":\"alive\"}\n"));
            long millis = (System.nanoTime() - start) / 1_000_000;
            assertTrue(alive.get("ok").asBoolean(), alive.toString());
            assertTrue(millis < 1_500, "alive answered while the failover still waits: " + millis + " ms");
        } finally {
            release.countDown();
            slow.join(10_000);
        }
    }
}
