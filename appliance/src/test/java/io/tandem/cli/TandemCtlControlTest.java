package io.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tandem.control.ControlSocketServer;
import io.tandem.control.FlowStats;
import io.tandem.control.History;
import io.tandem.control.OperatorCommands;
import io.tandem.control.StubDataplane;
import io.tandem.events.EventLog;
import io.tandem.ha.CommandResult;
import io.tandem.ha.HandOverCheck;
import io.tandem.ha.ManualOverride;
import io.tandem.ha.NodeStatus;
import io.tandem.ha.PairControl;
import io.tandem.ha.PairPreference;
import io.tandem.ha.PairView;
import io.tandem.role.Role;
import io.tandem.statesync.SyncStatus;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** tandemctl against a real control socket, with the pair behind it stood in for. */
class TandemCtlControlTest {
    @TempDir
    Path dir;
    private ControlSocketServer server;
    private final List<String> asked = new ArrayList<>();

    private record Run(int exit, String out, String err) {
    }

    @AfterEach
    void close() {
        if (server != null) {
            server.close();
        }
    }

    private Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        List<String> argv = new ArrayList<>(List.of(args));
        argv.addAll(List.of("--socket", dir.resolve("tandemd.sock").toString()));
        int exit = new CommandLine(new TandemCtl()).setOut(new PrintWriter(out)).setErr(new PrintWriter(err))
                .execute(argv.toArray(String[]::new));
        return new Run(exit, out.toString(), err.toString());
    }

    private static NodeStatus node(String name, Role role, String vrrp, int priority) {
        return new NodeStatus(name, role, vrrp, priority, System.currentTimeMillis() - 65_000, role != Role.SYNCING, 200, 3, true,
                true, PairPreference.NONE, ManualOverride.NONE, "abc", List.of(), 0);
    }

    /** lb1 active; lb2 standby and in sync, or with the sync link cut. */
    private void startPair(boolean syncLinkUp) throws Exception {
        SyncStatus sync = new SyncStatus(true, syncLinkUp, "lb2", 1200, 0, 0, 0, 0, 0, syncLinkUp ? true : null, 0, null);
        NodeStatus self = node("lb1", Role.ACTIVE, "MASTER", 150);
        NodeStatus peer = node("lb2", syncLinkUp ? Role.STANDBY : Role.SYNCING, "BACKUP", syncLinkUp ? 100 : 1);
        List<String> reasons = HandOverCheck.notInSync(sync, peer, 300, 1000);
        PairView view = new PairView(self, peer, 300, sync, reasons,
                HandOverCheck.failover(Role.ACTIVE, sync, peer, 300, 1000),
                HandOverCheck.takeover(Role.ACTIVE, ManualOverride.NONE, sync, peer, 300, 1000));
        PairControl pair = new PairControl() {
            @Override
            public PairView view() {
                return view;
            }

            @Override
            public CommandResult failover(boolean force, String by) {
                asked.add(by);
                return view.failover().allowed() || force
                        ? new CommandResult(true, force, "handing over to lb2", view.failover().reasons())
                        : new CommandResult(false, false, "failover refused: the pair is not safe to hand over", view.failover().reasons());
            }

            @Override
            public CommandResult takeover(boolean force, String by) {
                throw new AssertionError("not asked");
            }
        };
        StubDataplane dataplane = new StubDataplane().withWebFlows(200, System.currentTimeMillis());
        dataplane.sync = sync;
        server = ControlSocketServer.start(dir.resolve("tandemd.sock"), OperatorCommands.build(new OperatorCommands.Parts("lb1", pair,
                dataplane, new FlowStats(dataplane), new EventLog(), new History(), () -> "reloaded", Map::of)));
    }

    @Test
    void statusShowsBothBoxesSideBySideAndExitsZeroInSync() throws Exception {
        startPair(true);
        Run r = run("status");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().startsWith("IN SYNC — safe to fail over\n"), r.out());
        assertTrue(r.out().matches("(?s).*role\\s+ACTIVE\\s+STANDBY\n.*"), r.out());
        assertTrue(r.out().matches("(?s).*vrrp priority\\s+150\\s+100\n.*"), r.out());
        assertTrue(r.out().contains("up                1m5s"), r.out());
        assertTrue(r.out().contains("failover: allowed"), r.out());
        JsonNode json = new ObjectMapper().readTree(run("status", "--json").out());
        assertEquals("STANDBY", json.path("peer").path("role").asText());
        assertEquals(200, json.path("self").path("flows").asInt());
    }

    @Test
    void aCutSyncLinkMakesStatusExitOneAndTheFailoverRefusedWithItsReasons() throws Exception {
        startPair(false);
        Run status = run("status");
        assertEquals(1, status.exit());
        assertTrue(status.out().startsWith("NOT IN SYNC\n  - the peer is not connected on the sync link\n"), status.out());
        Run failover = run("failover");
        assertEquals(1, failover.exit());
        assertTrue(failover.err().contains("failover refused") && failover.err().contains("  - the peer is SYNCING, not STANDBY"),
                failover.err());
        assertEquals(List.of("tandemctl failover on lb1 by " + System.getProperty("user.name")), asked);
    }

    @Test
    void listingsDrainsAndReloadGoThroughTheSocket() throws Exception {
        startPair(true);
        Run flows = run("flows", "--limit", "3", "--backend", "198.19.0.12");
        assertEquals(0, flows.exit(), flows.err());
        assertEquals(5, flows.out().lines().count(), "header, 3 flows, the next-page hint:\n" + flows.out());
        assertTrue(flows.out().contains("198.19.0.12:8080") && !flows.out().contains("198.19.0.11:8080"), flows.out());
        assertTrue(flows.out().contains("more: tandemctl flows --cursor "), flows.out());

        Run drain = run("drain", "198.19.0.11:8080");
        assertEquals(0, drain.exit(), drain.err());
        assertEquals("drained web/198.19.0.11:8080\n", drain.out());
        Run backends = run("backends");
        assertTrue(backends.out().matches("(?s).*web\s+198.19.0.11:8080\s+1 drained\s+unchecked\s+100\n.*"), backends.out());
        assertEquals(1, run("drain", "198.19.9.9:1").exit(), "an unknown backend is refused");
        assertEquals(0, run("undrain", "198.19.0.11:8080").exit());
        assertTrue(run("backends").out().matches("(?s).*web\s+198.19.0.11:8080\s+1 serving.*"));

        assertEquals("reloaded\n", run("reload").out());
        Run events = run("events");
        assertTrue(events.out().matches("(?s).*drain\\s+web/198.19.0.11:8080 \\(tandemctl drain on lb1 by .*")
                && events.out().matches("(?s).*reload\\s+reloaded .*"), events.out());
    }

    @Test
    void configCheckNamesEveryBadFieldAndCompletionCoversTheCommands() throws Exception {
        Path bad = dir.resolve("bad.yaml");
        Files.writeString(bad, StubDataplane.YAML.replace("port: 80\n", "port: 80000\n"));
        StringWriter err = new StringWriter();
        int exit = new CommandLine(new TandemCtl()).setErr(new PrintWriter(err)).execute("config", "check", bad.toString());
        assertEquals(2, exit);
        assertTrue(err.toString().contains("services[0].port: 80000 is not a port (1-65535)"), err.toString());
        StringWriter jsonOut = new StringWriter();
        assertEquals(2, new CommandLine(new TandemCtl()).setOut(new PrintWriter(jsonOut)).execute("config", "check", "--json", bad.toString()));
        JsonNode errors = new ObjectMapper().readTree(jsonOut.toString());
        assertEquals(false, errors.path("ok").asBoolean());
        assertEquals("services[0].port: 80000 is not a port (1-65535)", errors.path("errors").get(0).asText());
        StringWriter out = new StringWriter();
        assertEquals(0, new CommandLine(new TandemCtl()).setOut(new PrintWriter(out)).execute("completion"));
        for (String command : List.of("status", "failover", "takeover", "flows", "drain", "reload", "keepalived-config")) {
            assertTrue(out.toString().contains(command), command + " in the completion script");
        }
    }

    @Test
    void theCommonOptionsWorkBeforeTheSubcommandToo() throws Exception {
        startPair(true);
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = new CommandLine(new TandemCtl()).setOut(new PrintWriter(out)).setErr(new PrintWriter(err))
                .execute("--socket", dir.resolve("tandemd.sock").toString(), "--json", "status");
        assertEquals(0, exit, err.toString());
        assertEquals("STANDBY", new ObjectMapper().readTree(out.toString()).path("peer").path("role").asText());
        StringWriter missing = new StringWriter();
        assertEquals(3, new CommandLine(new TandemCtl()).setErr(new PrintWriter(missing))
                .execute("--socket", dir.resolve("nothing.sock").toString(), "status"));
        assertTrue(missing.toString().contains("no control socket at " + dir.resolve("nothing.sock")), missing.toString());
    }

    @Test
    void withoutTandemdItSaysSoAndExitsThree() {
        Run r = run("status");
        assertEquals(3, r.exit());
        assertTrue(r.err().startsWith("tandemctl status: tandemd is not running here: no control socket at "), r.err());
    }
}
