package io.tandem.control;

import io.tandem.events.EventLog;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * keepalived's check as keepalived runs it: {@code vrrp-scripts/tandemd-alive PID_FILE SOCKET}
 * against a real control socket. It passes only while the daemon answers {@code alive}, and fails
 * within keepalived's 2 s for a daemon that is gone, stuck inside, or that accepts and never answers.
 */
class AliveCheckTest {
    @TempDir
    Path dir;
    private ControlSocketServer server;

    @AfterEach
    void close() {
        if (server != null) {
            server.close();
        }
    }

    private Path pidFile(long pid) throws Exception {
        Path file = dir.resolve("tandemd.pid");
        Files.writeString(file, pid + "\n");
        return file;
    }

    private record Check(int exit, long millis) {
    }

    private static Check check(Path pidFile, Path socket) throws Exception {
        Path script = Path.of(System.getProperty("user.dir")).getParent().resolve("vrrp-scripts/tandemd-alive");
        assertTrue(Files.isExecutable(Path.of("/usr/bin/socat")), "the check needs socat (.ci/run installs it; the RPM requires it)");
        long start = System.nanoTime();
        Process p = new ProcessBuilder("sh", script.toString(), pidFile.toString(), socket.toString()).redirectErrorStream(true).start();
        assertTrue(p.waitFor(10, TimeUnit.SECONDS), "the check ends by itself");
        return new Check(p.exitValue(), (System.nanoTime() - start) / 1_000_000);
    }

    @Test
    void passesWhileTheDaemonAnswersAndFailsWhenALoopIsStuck() throws Exception {
        StubDataplane box = new StubDataplane();
        ControlApi api = OperatorCommands.build(new OperatorCommands.Parts("lb1", null, box, new FlowStats(box), new EventLog(),
                new History(), () -> "reloaded", Map::of));
        Path socket = dir.resolve("tandemd.sock");
        server = ControlSocketServer.start(socket, api);
        Path pid = pidFile(ProcessHandle.current().pid());
        assertEquals(0, check(pid, socket).exit(), "a live daemon passes");
        box.stuck.add("packet loop 2 of 2 ran no task within 500 ms");
        assertEquals(1, check(pid, socket).exit(), "a stuck packet loop fails it");
        box.stuck.clear();
        assertEquals(0, check(pid, socket).exit());
        assertEquals(1, check(pidFile(deadPid()), socket).exit(), "no process behind the PID file");
        assertEquals(1, check(pid, dir.resolve("missing.sock")).exit(), "no socket");
    }

    @Test
    void aDaemonThatAcceptsButNeverAnswersFailsWithinKeepalivedsTimeout() throws Exception {
        Path socket = dir.resolve("wedged.sock");
        try (ServerSocketChannel wedged = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            wedged.bind(UnixDomainSocketAddress.of(socket)); // the kernel accepts; nobody reads or writes
            Check c = check(pidFile(ProcessHandle.current().pid()), socket);
            assertEquals(1, c.exit());
            assertTrue(c.millis() < 2_000, "failed within keepalived's script timeout (2 s): " + c.millis() + " ms");
        }
    }

    private static long deadPid() throws Exception {
        Process p = new ProcessBuilder("true").start();
        p.waitFor();
        return p.pid();
    }
}
