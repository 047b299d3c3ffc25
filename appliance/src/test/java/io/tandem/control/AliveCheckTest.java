package io.tandem.control;

import io.tandem.events.EventLog;
import io.tandem.events.PeriodicTasks;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
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

    /** A control socket answering for {@code box}, as tandemd's. */
    private Path serve(StubDataplane box) throws Exception {
        ControlApi api = OperatorCommands.build(new OperatorCommands.Parts("lb1", null, box, new FlowStats(box), new EventLog(),
                new History(), () -> "reloaded", Map::of));
        Path socket = dir.resolve("tandemd.sock");
        server = ControlSocketServer.start(socket, api);
        return socket;
    }

    private record Check(int exit, long millis) {
    }

    private static Check check(Path pidFile, Path socket) throws Exception {
        return check(null, pidFile, socket);
    }

    /** The check with the fast path's arguments ({@code pin} beside a pinned tcx link) and its note kept in {@code stateDir}. */
    private static Check check(Path stateDir, Path pidFile, Path socket, String... fastPath) throws Exception {
        Path script = Path.of(System.getProperty("user.dir")).getParent().resolve("vrrp-scripts/tandemd-alive");
        assertTrue(Files.isExecutable(Path.of("/usr/bin/socat")), "the check needs socat (.ci/run installs it; the RPM requires it)");
        long start = System.nanoTime();
        List<String> argv = new ArrayList<>(List.of("sh", script.toString(), pidFile.toString(), socket.toString()));
        argv.addAll(List.of(fastPath));
        ProcessBuilder builder = new ProcessBuilder(argv).redirectErrorStream(true);
        if (stateDir != null) {
            builder.environment().put("TANDEM_CHECK_DIR", stateDir.toString());
        }
        Process p = builder.start();
        assertTrue(p.waitFor(10, TimeUnit.SECONDS), "the check ends by itself");
        return new Check(p.exitValue(), (System.nanoTime() - start) / 1_000_000);
    }

    @Test
    void passesWhileTheDaemonAnswersAndFailsWhenALoopIsStuck() throws Exception {
        StubDataplane box = new StubDataplane();
        Path socket = serve(box);
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

    /** The fast path's program "attached" (a tcx link pinned beside the map) and its map pinned: files are what the check looks at. */
    private String[] attachedFastPath() throws Exception {
        Path pins = Files.createDirectories(dir.resolve("bpf/tandem"));
        Files.writeString(pins.resolve("flows4"), "");
        Files.writeString(pins.resolve("front.link"), "");
        return new String[] {"front", pins.resolve("flows4").toString()};
    }

    /**
     * Issue 29, point 8: a tandemd that runs but does not answer is wedged, not restarting: with
     * the fast path attached it used to pass for the 20 s of a restart's grace (SYNs blackholed
     * meanwhile). Now it fails at once; only a tandemd that is not running gets the grace.
     */
    @Test
    void aWedgedDaemonFailsAtOnceEvenWithTheFastPathAttachedAndOnlyARestartGetsTheGrace() throws Exception {
        String[] fastPath = attachedFastPath();
        Path state = dir.resolve("check-state");
        Path socket = dir.resolve("wedged.sock");
        try (ServerSocketChannel wedged = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            wedged.bind(UnixDomainSocketAddress.of(socket));
            Check c = check(state, pidFile(ProcessHandle.current().pid()), socket, fastPath);
            assertEquals(1, c.exit(), "running, not answering: wedged");
            assertTrue(c.millis() < 2_000, c.millis() + " ms");
        }
        Path gone = pidFile(deadPid());
        assertEquals(0, check(state, gone, dir.resolve("none.sock"), fastPath).exit(), "not running, the kernel carries the flows: a restart");
        Path note = state.resolve(gone.toString().replaceAll("[^A-Za-z0-9._-]", "_") + ".down-since");
        assertTrue(Files.exists(note), "the silence's start noted in the state directory");
        Files.writeString(note, (System.currentTimeMillis() / 1000 - 21) + "\n");
        assertEquals(1, check(state, gone, dir.resolve("none.sock"), fastPath).exit(), "absent beyond 20 s: fail over");
    }

    /**
     * Issue 29, point 7: keepalived runs the check as root; its note must never go where another
     * user can plant a symlink. A state directory others may write is refused (the check fails
     * and writes nothing), and a symlink as the directory is refused too.
     */
    @Test
    void theCheckWritesItsNoteOnlyInADirectoryNoOneElseCanWrite() throws Exception {
        String[] fastPath = attachedFastPath();
        Path gone = pidFile(deadPid());
        Path victim = dir.resolve("victim");
        Files.writeString(victim, "precious\n");
        String name = gone.toString().replaceAll("[^A-Za-z0-9._-]", "_") + ".down-since";

        Path shared = Files.createDirectories(dir.resolve("shared"));
        Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxrwxrwx"));
        Files.createSymbolicLink(shared.resolve(name), victim);
        assertEquals(1, check(shared, gone, dir.resolve("none.sock"), fastPath).exit(), "a directory others can write is refused");
        assertEquals("precious\n", Files.readString(victim), "and nothing was written through the planted link");

        Path linked = dir.resolve("linked");
        Files.createSymbolicLink(linked, shared);
        assertEquals(1, check(linked, gone, dir.resolve("none.sock"), fastPath).exit(), "a symlink as the directory is refused");
        assertEquals("precious\n", Files.readString(victim));

        Path own = dir.resolve("own");
        assertEquals(0, check(own, gone, dir.resolve("none.sock"), fastPath).exit());
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(own)), "made by the check, its owner's alone");
    }

    /**
     * Issue 29, point 8: a periodic task that meets an {@link Error} (here the
     * {@code NoClassDefFoundError} an RPM upgrade under a running JVM raises) cannot run again, and
     * the daemon stops answering {@code alive}: the check fails, where it used to pass while
     * expiry or the HA tick had silently ended.
     */
    @Test
    void aTaskThatCanNoLongerRunFailsTheCheck() throws Exception {
        StubDataplane box = new StubDataplane();
        Path socket = serve(box);
        Path pid = pidFile(ProcessHandle.current().pid());
        assertEquals(0, check(pid, socket).exit());
        try {
            Runnable expiry = PeriodicTasks.guard("test-expiry", () -> {
                throw new NoClassDefFoundError("io/tandem/conntrack/FlowTable$1 (its jar was replaced)");
            });
            assertThrows(NoClassDefFoundError.class, expiry::run, "the Error ends the task: it cannot be trusted to run again");
            assertTrue(PeriodicTasks.broken().startsWith("test-expiry: java.lang.NoClassDefFoundError"), PeriodicTasks.broken());
            assertEquals(1, check(pid, socket).exit(), "a daemon that can no longer run its tasks fails keepalived's check");
        } finally {
            PeriodicTasks.forgetBroken();
        }
    }

    private static long deadPid() throws Exception {
        Process p = new ProcessBuilder("true").start();
        p.waitFor();
        return p.pid();
    }
}
