package io.tandem.ha;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RoleControllerTest {
    @TempDir
    Path dir;

    private int weight(Path file) throws Exception {
        return Integer.parseInt(Files.readString(file).strip());
    }

    @Test
    void aRestartedBoxIsHeldBackUntilItsTableIsInSync() throws Exception {
        Path file = dir.resolve("run/tandem/vrrp-priority");
        List<Boolean> publishing = new ArrayList<>();
        RoleController c = new RoleController(new TrackFile(file), publishing::add);
        assertEquals(Role.SYNCING, c.role());
        assertEquals(KeepalivedConfig.HOLD_BACK_WEIGHT, weight(file), "held back from the start");

        c.onVrrp(VrrpState.parse("INSTANCE \"tandem\" BACKUP 1").orElseThrow());
        assertEquals(Role.SYNCING, c.role());
        c.onSync(true);
        assertEquals(Role.STANDBY, c.role());
        assertEquals(KeepalivedConfig.READY_WEIGHT, weight(file), "released once in sync");

        c.onVrrp(VrrpState.parse("INSTANCE \"tandem\" MASTER 150").orElseThrow());
        assertEquals(Role.ACTIVE, c.role());
        c.onVrrp(VrrpState.parse("INSTANCE \"tandem\" BACKUP 100").orElseThrow());
        c.onSync(false);
        assertEquals(Role.SYNCING, c.role());
        assertEquals(KeepalivedConfig.HOLD_BACK_WEIGHT, weight(file));
        c.onVrrp(VrrpState.parse("INSTANCE \"tandem\" FAULT 0").orElseThrow());
        assertEquals(Role.FAULT, c.role());
        // SYNCING, STANDBY, ACTIVE, STANDBY, SYNCING, FAULT
        assertEquals(List.of(false, false, true, false, false, false), publishing, "publishes to the peer only while active");
    }

    @Test
    void aMasterPublishesEvenBeforeItsSyncCompletes() throws Exception {
        List<Boolean> publishing = new ArrayList<>();
        RoleController c = new RoleController(new TrackFile(dir.resolve("p")), publishing::add);
        c.onVrrp(VrrpState.parse("INSTANCE \"tandem\" MASTER 1").orElseThrow()); // the peer is gone: it is the only box
        assertEquals(Role.ACTIVE, c.role());
        assertTrue(publishing.get(publishing.size() - 1));
    }

    @Test
    void notifyFifoLinesAreParsedOrIgnored() {
        assertEquals(new VrrpState("tandem", VrrpState.State.MASTER, 150), VrrpState.parse("INSTANCE \"tandem\" MASTER 150\n").orElseThrow());
        assertTrue(VrrpState.parse("GROUP \"g\" MASTER 0").isEmpty());
        assertTrue(VrrpState.parse("INSTANCE \"tandem\" SLEEPY 1").isEmpty());
        assertTrue(VrrpState.parse("").isEmpty());
    }
}
