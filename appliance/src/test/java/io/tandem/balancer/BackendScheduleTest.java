package io.tandem.balancer;

import io.tandem.TestConfig;
import io.tandem.config.TandemConfig;
import io.tandem.conntrack.SnatPortPools;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

class BackendScheduleTest {
    private static BackendSchedule schedule(TandemConfig config) {
        return new BackendSchedule(config.services(), new SnatPortPools(1024, 65535), (proto, vip, vipPort, backend, backendPort) -> 0);
    }

    @Test
    void aReloadRefusedBeforePublishingChangesNothingDrainsIncluded() throws Exception {
        TandemConfig three = TestConfig.box("lb1").services(TestConfig.Service.web(3)).parse();
        TandemConfig two = TestConfig.box("lb1").services(TestConfig.Service.web(2)).parse();
        BackendSchedule s = schedule(three);
        s.drain(null, "198.19.0.13:8080", true);
        ServiceTable before = s.current();
        long seq = s.drainSeq();

        IOException refused = assertThrows(IOException.class, () -> s.reload(two.services(), table -> {
            throw new IOException("ip rule add: exit 2");
        }));
        assertEquals("ip rule add: exit 2", refused.getMessage());
        assertSame(before, s.current(), "the table in force is the one before");
        assertEquals(three.services(), s.configs());
        assertEquals(List.of("web/198.19.0.13:8080"), s.drained(), "the drain of the backend the new config lacks is kept");
        assertEquals(seq, s.drainSeq());

        s.reload(two.services(), table -> { });
        assertEquals(List.of(), s.drained(), "accepted: the drain of a backend that left the config is forgotten");
        assertEquals(2, s.current().services().getFirst().backends().size());
    }

    @Test
    void aSavedScheduleComesBackWholeAfterALaterStepFails() throws Exception {
        TandemConfig three = TestConfig.box("lb1").services(TestConfig.Service.web(3)).parse();
        TandemConfig two = TestConfig.box("lb1").services(TestConfig.Service.web(2)).parse();
        BackendSchedule s = schedule(three);
        s.drain("web", "198.19.0.13:8080", true);
        BackendSchedule.Saved saved = s.save();
        s.reload(two.services(), table -> { });
        ServiceTable[] routed = new ServiceTable[1];
        s.restore(saved, table -> routed[0] = table);
        assertSame(saved.table(), routed[0], "the routing goes back to the saved table's services");
        assertEquals(three.services(), s.configs());
        assertEquals(List.of("web/198.19.0.13:8080"), s.drained());
        assertEquals(3, s.current().services().getFirst().backends().size());
        assertEquals(saved.drainSeq(), s.drainSeq());
    }
}
