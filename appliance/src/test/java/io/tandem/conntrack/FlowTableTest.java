package io.tandem.conntrack;

import io.tandem.packet.Ipv4;
import io.tandem.packet.TcpFlags;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FlowTableTest {
    static final int TCP = Ipv4.PROTO_TCP;
    static final int CLIENT = Ipv4.parse("198.18.0.10");
    static final int VIP = Ipv4.parse("198.18.0.100");
    static final int BACKEND = Ipv4.parse("198.19.0.11");
    static final int SNAT = Ipv4.parse("198.19.0.100");

    private final SnatPortPools pools = new SnatPortPools(1024, 65535);
    private final FlowLookup out = new FlowLookup();

    private FlowTable table(int capacity, int embryonic) {
        return new FlowTable(capacity, embryonic, FlowTimeouts.defaults(), pools);
    }

    private static int insert(FlowTable t, int clientPort, int snatPort, FlowState state, FlowLookup out) {
        return t.insert(TCP, CLIENT, clientPort, VIP, 80, BACKEND, 8080, SNAT, snatPort, -1, state, 0, out);
    }

    @Test
    void oneRecordIsReachableFromBothTuples() {
        FlowTable t = table(16, 16);
        int slot = insert(t, 40000, 20000, FlowState.TCP_SYN_SENT, out);
        assertTrue(slot >= 0);

        assertTrue(t.lookup(TCP, CLIENT, VIP, 40000, 80, out));
        assertEquals(FlowDirection.ORIGINAL, out.direction());
        assertEquals(slot, out.flowId());
        assertEquals(BACKEND, out.backendAddress());
        assertEquals(20000, out.snatPort());

        assertTrue(t.lookup(TCP, BACKEND, SNAT, 8080, 20000, out));
        assertEquals(FlowDirection.REPLY, out.direction());
        assertEquals(slot, out.flowId());
        assertEquals(CLIENT, out.clientAddress());
        assertEquals(40000, out.clientPort());

        assertFalse(t.lookup(TCP, VIP, CLIENT, 80, 40000, out), "the reversed original tuple is not a key");
        assertFalse(t.lookup(Ipv4.PROTO_UDP, CLIENT, VIP, 40000, 80, out), "protocol is part of the key");
    }

    @Test
    void duplicateTuplesAreRefused() {
        FlowTable t = table(16, 16);
        int slot = insert(t, 40000, 20000, FlowState.TCP_SYN_SENT, out);
        assertEquals(FlowTable.INSERT_EXISTS, insert(t, 40000, 20001, FlowState.TCP_SYN_SENT, out));
        assertEquals(slot, out.flowId());
        assertEquals(20000, out.snatPort(), "the existing flow is returned");
        assertEquals(FlowTable.INSERT_TUPLE_IN_USE, insert(t, 40001, 20000, FlowState.TCP_SYN_SENT, out));
        assertEquals(1, t.size());
    }

    @Test
    void eventsDescribeEachChange() {
        FlowTable t = table(16, 16);
        List<String> events = new ArrayList<>();
        t.setListener((type, flow) -> events.add(type + " " + flow.state + " " + flow.clientPort + "->" + flow.snatPort));
        insert(t, 40000, 20000, FlowState.TCP_SYN_SENT, out);
        t.lookup(TCP, BACKEND, SNAT, 8080, 20000, out);
        t.observe(out, TcpFlags.SYN | TcpFlags.ACK, 5);
        t.observe(out, TcpFlags.ACK, 6); // no state change: no event
        t.lookup(TCP, CLIENT, VIP, 40000, 80, out);
        t.observe(out, TcpFlags.ACK, 7);
        assertTrue(t.remove(out.flowId(), out.generation()));
        insert(t, 40001, 20001, FlowState.TCP_SYN_SENT, out);
        t.expire(1_000_000, 16);
        assertEquals(List.of(
                "CREATED TCP_SYN_SENT 40000->20000",
                "STATE_CHANGED TCP_SYN_RECV 40000->20000",
                "STATE_CHANGED TCP_ESTABLISHED 40000->20000",
                "REMOVED TCP_ESTABLISHED 40000->20000",
                "CREATED TCP_SYN_SENT 40001->20001",
                "EXPIRED TCP_SYN_SENT 40001->20001"), events);
    }

    @Test
    void aStaleLookupNeverTouchesTheSlotsNextFlow() {
        FlowTable t = table(1, 1);
        insert(t, 40000, 20000, FlowState.TCP_ESTABLISHED, out);
        FlowLookup stale = new FlowLookup();
        t.lookup(TCP, CLIENT, VIP, 40000, 80, stale);
        assertTrue(t.remove(stale.flowId(), stale.generation()));
        insert(t, 40001, 20001, FlowState.TCP_ESTABLISHED, out);
        assertEquals(stale.flowId(), out.flowId(), "the only slot is reused");

        t.observe(stale, TcpFlags.RST, 9);
        assertFalse(t.remove(stale.flowId(), stale.generation()));
        assertTrue(t.lookup(TCP, CLIENT, VIP, 40001, 80, out));
        assertEquals(FlowState.TCP_ESTABLISHED, out.state(), "the RST of the old flow did not close the new one");
    }

    @Test
    void expiryExaminesOnlyItsBudgetPerCall() {
        FlowTable t = table(100, 100);
        for (int i = 0; i < 100; i++) {
            insert(t, 40000 + i, 20000 + i, FlowState.TCP_CLOSED, out);
        }
        long later = 60_000;
        assertEquals(10, t.expire(later, 10));
        assertEquals(90, t.size());
        int total = 10;
        for (int call = 0; call < 9; call++) {
            total += t.expire(later, 10);
        }
        assertEquals(100, total);
        assertEquals(0, t.size());
    }

    @Test
    void aRefreshedFlowDoesNotExpire() {
        FlowTable t = table(4, 4);
        insert(t, 40000, 20000, FlowState.TCP_CLOSED, out);
        t.lookup(TCP, CLIENT, VIP, 40000, 80, out);
        t.observe(out, TcpFlags.ACK, 8_000);
        assertEquals(0, t.expire(12_000, 4), "CLOSED lasts 10 s from the last packet");
        assertEquals(1, t.expire(18_001, 4));
    }

    @Test
    void timesKeptIn32BitsReadBackAndExpireAcrossTheirWrap() {
        // The slot keeps the low 32 bits of the millisecond clock: a wall-clock time, and one just
        // before those bits wrap, must read back exactly and expire on time.
        for (long start : new long[] {1_796_000_000_000L, (1L << 32) - 3_000, (5L << 32) - 1}) {
            FlowTable t = table(4, 4);
            t.insert(TCP, CLIENT, 40000, VIP, 80, BACKEND, 8080, SNAT, 20000, -1, FlowState.TCP_CLOSED, start, out);
            List<Long> seen = new ArrayList<>();
            t.forEach(f -> seen.add(f.lastSeenMillis));
            assertEquals(List.of(start), seen, "read back at " + start);
            t.lookup(TCP, CLIENT, VIP, 40000, 80, out);
            t.observe(out, TcpFlags.ACK, start + 8_000);
            assertEquals(0, t.expire(start + 12_000, 4), "CLOSED lasts 10 s from the last packet, from " + start);
            seen.clear();
            t.forEach(f -> seen.add(f.lastSeenMillis));
            assertEquals(List.of(start + 8_000), seen);
            assertEquals(1, t.expire(start + 18_001, 4), "expired 10 s after its last packet, from " + start);
        }
    }

    @Test
    void theFreeListHandsOutEverySlotOnceAndTakesThemBack() {
        FlowTable t = table(8, 8);
        Set<Integer> slots = new HashSet<>();
        for (int i = 0; i < 8; i++) {
            assertTrue(slots.add(insert(t, 40000 + i, 20000 + i, FlowState.TCP_CLOSED, out)));
        }
        assertEquals(FlowTable.INSERT_TABLE_FULL, insert(t, 40100, 20100, FlowState.TCP_CLOSED, out));
        assertEquals(8, t.expire(100_000, 8));
        Set<Integer> again = new HashSet<>();
        for (int i = 0; i < 8; i++) {
            assertTrue(again.add(insert(t, 41000 + i, 21000 + i, FlowState.TCP_CLOSED, out)));
        }
        assertEquals(slots, again, "the same eight slots, each once");
        assertEquals(FlowTable.INSERT_TABLE_FULL, insert(t, 40100, 20100, FlowState.TCP_CLOSED, out));
    }

    @Test
    void removedFlowsReturnTheirSnatPort() {
        SnatPortPool pool = pools.poolFor(SNAT, BACKEND, 8080, TCP);
        FlowTable t = table(4, 4);
        int port = pool.allocate(0);
        t.insert(TCP, CLIENT, 40000, VIP, 80, BACKEND, 8080, SNAT, port, pool.id(), FlowState.TCP_SYN_SENT, 0, out);
        assertEquals(1, pool.inUse());
        assertTrue(t.remove(out.flowId(), out.generation()));
        assertEquals(0, pool.inUse());
    }

    @Test
    void memoryPerFlowIsWithinBudget() {
        FlowTable t = table(1 << 20, 1 << 18);
        double perFlow = (double) t.memoryFootprintBytes() / t.capacity();
        assertTrue(perFlow <= 128, "bytes per flow: " + perFlow);
    }

    /** Records what the table asks of the fast path; answers {@code lastForwarded} for every flow. */
    private static final class RecordingHook implements FastPathHook {
        final List<String> calls = new ArrayList<>();
        long lastForwarded;

        @Override
        public boolean install(FlowFields flow) {
            calls.add("install " + flow.clientPort());
            return true;
        }

        @Override
        public void removed(FlowFields flow) {
            calls.add("removed " + flow.clientPort());
        }

        @Override
        public long lastForwardedMillis(FlowFields flow) {
            return lastForwarded;
        }

        @Override
        public boolean carriedBothWays(FlowFields flow) {
            return false;
        }

        @Override
        public long sequenceEnd(FlowFields flow, boolean fromClient) {
            return -1;
        }

        @Override
        public void sequenceAdvanced(FlowFields flow, boolean fromClient, long end) {
            calls.add("advanced " + flow.clientPort());
        }
    }

    @Test
    void theFastPathFollowsThePeersDecidedFlowsAndItsFlowsEndsAndIdleTime() {
        FlowTable t = table(16, 16);
        RecordingHook hook = new RecordingHook();
        t.setFastPathHook(hook);
        FlowSnapshot record = new FlowSnapshot().setKey(TCP, CLIENT, 41000, VIP, 80).setMapping(BACKEND, 8080, SNAT, 30000)
                .setState(FlowState.TCP_SYN_RECV, false, 0, 1);
        t.install(record, false, 0);
        assertEquals(List.of(), hook.calls, "not decided yet");
        t.install(record.setState(FlowState.TCP_ESTABLISHED, false, 0, 2), false, 0);
        assertEquals(List.of("install 41000"), hook.calls, "the peer's established flow goes into this box's fast path");
        t.install(record.setState(FlowState.TCP_FIN_WAIT, false, 0, 3), false, 0);
        t.install(record.setState(FlowState.TCP_TIME_WAIT, false, 0, 4), false, 0);
        assertEquals(List.of("install 41000"), hook.calls, "its close stays there: the program reports the FINs");
        t.install(record.setState(FlowState.TCP_CLOSED, false, 0, 5), false, 0);
        assertEquals(List.of("install 41000", "removed 41000"), hook.calls, "and out after a RST");

        // A flow marked fast here: before it expires as idle, the kernel is asked.
        insert(t, 42000, 30001, FlowState.TCP_ESTABLISHED, out);
        assertTrue(t.lookup(TCP, CLIENT, VIP, 42000, 80, out));
        assertTrue(t.markFast(out));
        assertFalse(t.markFast(out), "once");
        long idle = FlowTimeouts.defaults().millis(FlowState.TCP_ESTABLISHED) + 1;
        hook.lastForwarded = idle - 5;
        t.expire(idle, 16);
        assertTrue(t.lookup(TCP, CLIENT, VIP, 42000, 80, out), "the kernel forwarded it 5 ms ago: it stays");
        hook.lastForwarded = 0;
        t.expire(3 * idle, 16);
        assertFalse(t.lookup(TCP, CLIENT, VIP, 42000, 80, out), "idle in the kernel too: it expires");
        assertEquals("removed 42000", hook.calls.get(hook.calls.size() - 1), "and its entries go with it");
    }
}
