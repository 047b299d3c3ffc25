package io.tandem.dataplane;

import io.netty.buffer.ByteBuf;
import io.tandem.conntrack.FastPathHook;
import io.tandem.conntrack.FlowFields;
import io.tandem.conntrack.FlowLookup;
import io.tandem.conntrack.FlowSnapshot;
import io.tandem.conntrack.FlowState;
import io.tandem.dataplane.tun.Verdict;
import io.tandem.packet.DropReason;
import io.tandem.packet.Ipv4;
import io.tandem.packet.TcpFlags;
import io.tandem.packet.TestPacket;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static io.tandem.dataplane.EngineHarness.CLIENT;
import static io.tandem.dataplane.EngineHarness.SNAT;
import static io.tandem.dataplane.EngineHarness.VIP;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * RSTs and FINs against the flow's sequence window (RFC 5961 §3, Linux's tcp_in_window): the
 * engine is driven with the sequence numbers a real handshake and exchange would carry.
 */
class TcpWindowTest {
    private static final long NOW = 1_000_000L;
    private static final long CLIENT_ISN = 100_000L;
    private static final long BACKEND_ISN = 7_000_000L;

    /** One connection through the engine: sends packets with real sequence numbers. */
    private static final class Connection {
        final EngineHarness engine;
        final int port;
        final FlowLookup flow;
        final String backend;
        long clientNext;
        long backendNext;

        Connection(EngineHarness engine, int port, long clientIsn, long backendIsn, int clientShift, int backendShift, int backendWindow) {
            this.engine = engine;
            this.port = port;
            TestPacket syn = TestPacket.tcp(CLIENT, port, VIP, 80, TcpFlags.SYN).seq(clientIsn, 0);
            assertEquals(Verdict.FORWARD, engine.processor.process((clientShift >= 0 ? syn.windowScale(clientShift) : syn).build(), NOW));
            flow = engine.flow(Ipv4.PROTO_TCP, CLIENT, port, VIP, 80);
            backend = Ipv4.format(flow.backendAddress());
            clientNext = clientIsn + 1;
            TestPacket synAck = fromBackend(TcpFlags.SYN | TcpFlags.ACK, backendIsn).window(backendWindow);
            assertEquals(Verdict.FORWARD, send(backendShift >= 0 ? synAck.windowScale(backendShift) : synAck));
            backendNext = backendIsn + 1;
            assertEquals(Verdict.FORWARD, send(fromClient(TcpFlags.ACK, clientNext)));
            assertEquals(FlowState.TCP_ESTABLISHED, state());
        }

        Connection(EngineHarness engine, int port) {
            this(engine, port, CLIENT_ISN, BACKEND_ISN, -1, -1, 65535);
        }

        TestPacket fromClient(int flags, long seq) {
            return TestPacket.tcp(CLIENT, port, VIP, 80, flags).seq(seq, backendNext);
        }

        TestPacket fromBackend(int flags, long seq) {
            return TestPacket.tcp(backend, 8080, SNAT, flow.snatPort(), flags).seq(seq, clientNext);
        }

        Verdict send(TestPacket packet) {
            ByteBuf buf = packet.build();
            try {
                return engine.processor.process(buf, NOW);
            } finally {
                buf.release();
            }
        }

        /** The client sends {@code bytes} of data at its next sequence number. */
        void clientData(int bytes) {
            assertEquals(Verdict.FORWARD, send(fromClient(TcpFlags.ACK | TcpFlags.PSH, clientNext).payload(new byte[bytes])));
            clientNext += bytes;
        }

        FlowState state() {
            return engine.flow(Ipv4.PROTO_TCP, CLIENT, port, VIP, 80).state();
        }

        DropReason lastDrop() {
            return engine.processor.lastDropReason();
        }
    }

    @Test
    void aBlindRstFarOutsideTheWindowIsDroppedAndCountedAndTheFlowCarriesOn() throws Exception {
        Connection c = new Connection(new EngineHarness(), 41000);
        c.clientData(500);
        for (long offset : new long[] {1_000_000, -1_000_000, 1L << 31}) {
            assertEquals(Verdict.DROP, c.send(c.fromClient(TcpFlags.RST, c.clientNext + offset)), "offset " + offset);
            assertEquals(DropReason.RST_OUT_OF_WINDOW, c.lastDrop());
            assertEquals(Verdict.DROP, c.send(c.fromBackend(TcpFlags.RST | TcpFlags.ACK, c.backendNext + offset)));
        }
        assertEquals(6, c.engine.processor.counters().drops(DropReason.RST_OUT_OF_WINDOW));
        assertEquals(FlowState.TCP_ESTABLISHED, c.state());
        c.clientData(100); // still forwarded
    }

    @Test
    void anInWindowRstAtTheExpectedSequenceEndsTheFlow() throws Exception {
        Connection c = new Connection(new EngineHarness(), 41001);
        c.clientData(1200);
        assertEquals(Verdict.FORWARD, c.send(c.fromClient(TcpFlags.RST | TcpFlags.ACK, c.clientNext)));
        assertEquals(FlowState.TCP_CLOSED, c.state());
    }

    @Test
    void anInWindowRstElsewhereReachesTheEndpointButKeepsTheFlow() throws Exception {
        Connection c = new Connection(new EngineHarness(), 41002);
        assertEquals(Verdict.FORWARD, c.send(c.fromBackend(TcpFlags.RST, c.backendNext + 30_000)));
        assertEquals(FlowState.TCP_ESTABLISHED, c.state(), "the backend challenges it with an ACK (RFC 5961 §3.2)");
        assertEquals(1, c.engine.processor.counters().rstsChallenged());
        assertEquals(Verdict.FORWARD, c.send(c.fromBackend(TcpFlags.RST, c.backendNext)), "the real peer's RST");
        assertEquals(FlowState.TCP_CLOSED, c.state());
    }

    @Test
    void aFinOutsideTheWindowIsIgnoredAndOneInsideCloses() throws Exception {
        Connection c = new Connection(new EngineHarness(), 41003);
        assertEquals(Verdict.DROP, c.send(c.fromClient(TcpFlags.FIN | TcpFlags.ACK, c.clientNext + 5_000_000)));
        assertEquals(DropReason.FIN_OUT_OF_WINDOW, c.lastDrop());
        assertEquals(FlowState.TCP_ESTABLISHED, c.state());
        assertEquals(Verdict.FORWARD, c.send(c.fromClient(TcpFlags.FIN | TcpFlags.ACK, c.clientNext)));
        assertEquals(FlowState.TCP_FIN_WAIT, c.state());
        // A retransmission of the same FIN (its ACK was lost) is old but in the window: it passes.
        assertEquals(Verdict.FORWARD, c.send(c.fromClient(TcpFlags.FIN | TcpFlags.ACK, c.clientNext)));
    }

    @Test
    void theWindowScaleBothSidesOfferWidensTheWindow() throws Exception {
        // The backend offers 2,000 << 7 = 256,000 bytes: a RST 200,000 ahead is in the window.
        Connection scaled = new Connection(new EngineHarness(), 41004, CLIENT_ISN, BACKEND_ISN, 7, 7, 2000);
        assertEquals(Verdict.FORWARD, scaled.send(scaled.fromBackend(TcpFlags.ACK, scaled.backendNext).window(2000)));
        assertEquals(Verdict.FORWARD, scaled.send(scaled.fromClient(TcpFlags.RST, scaled.clientNext + 200_000)));
        assertEquals(FlowState.TCP_ESTABLISHED, scaled.state(), "in the window but not exact: challenged");
        assertEquals(1, scaled.engine.processor.counters().rstsChallenged());
        // Only the client offered scaling: RFC 7323 scales neither side, and 200,000 is outside.
        Connection unscaled = new Connection(new EngineHarness(), 41005, CLIENT_ISN, BACKEND_ISN, 7, -1, 2000);
        assertEquals(Verdict.DROP, unscaled.send(unscaled.fromClient(TcpFlags.RST, unscaled.clientNext + 200_000)));
        assertEquals(DropReason.RST_OUT_OF_WINDOW, unscaled.lastDrop());
    }

    @Test
    void sequenceNumbersWrapAroundTwoToTheThirtySecond() throws Exception {
        Connection c = new Connection(new EngineHarness(), 41006, 0xFFFF_FF00L, 0xFFFF_FFF0L, -1, -1, 65535);
        c.clientData(1000); // crosses 2^32
        assertEquals(Verdict.DROP, c.send(c.fromClient(TcpFlags.RST, (c.clientNext + 0x8000_0000L) & 0xFFFF_FFFFL)));
        assertEquals(Verdict.FORWARD, c.send(c.fromClient(TcpFlags.RST, c.clientNext & 0xFFFF_FFFFL)));
        assertEquals(FlowState.TCP_CLOSED, c.state());
    }

    @Test
    void theBackendsRefusalMustAcknowledgeTheSyn() throws Exception {
        EngineHarness engine = new EngineHarness();
        ByteBuf syn = TestPacket.tcp(CLIENT, 41007, VIP, 80, TcpFlags.SYN).seq(CLIENT_ISN, 0).build();
        engine.processor.process(syn, NOW);
        FlowLookup flow = engine.flow(Ipv4.PROTO_TCP, CLIENT, 41007, VIP, 80);
        String backend = Ipv4.format(flow.backendAddress());
        ByteBuf blind = TestPacket.tcp(backend, 8080, SNAT, flow.snatPort(), TcpFlags.RST | TcpFlags.ACK).seq(0, CLIENT_ISN + 77).build();
        assertEquals(Verdict.DROP, engine.processor.process(blind, NOW));
        assertEquals(DropReason.RST_OUT_OF_WINDOW, engine.processor.lastDropReason());
        assertEquals(FlowState.TCP_SYN_SENT, engine.flow(Ipv4.PROTO_TCP, CLIENT, 41007, VIP, 80).state());
        ByteBuf refusal = TestPacket.tcp(backend, 8080, SNAT, flow.snatPort(), TcpFlags.RST | TcpFlags.ACK).seq(0, CLIENT_ISN + 1).build();
        assertEquals(Verdict.FORWARD, engine.processor.process(refusal, NOW));
        assertEquals(FlowState.TCP_CLOSED, engine.flow(Ipv4.PROTO_TCP, CLIENT, 41007, VIP, 80).state());
    }

    @Test
    void aClientsResetOfABackendsTimeWaitAnswerEndsTheAttemptSoTheRetransmittedSynGetsThrough() throws Exception {
        EngineHarness engine = new EngineHarness();
        ByteBuf syn = TestPacket.tcp(CLIENT, 41010, VIP, 80, TcpFlags.SYN).seq(CLIENT_ISN, 0).build();
        assertEquals(Verdict.FORWARD, engine.processor.process(syn, NOW));
        FlowLookup flow = engine.flow(Ipv4.PROTO_TCP, CLIENT, 41010, VIP, 80);
        String backend = Ipv4.format(flow.backendAddress());
        // The backend still holds the tuple in TIME_WAIT: it answers with the old connection's ACK.
        long oldNext = 3_000_000_000L;
        ByteBuf timeWaitAck = TestPacket.tcp(backend, 8080, SNAT, flow.snatPort(), TcpFlags.ACK).seq(55_555, oldNext).build();
        assertEquals(Verdict.FORWARD, engine.processor.process(timeWaitAck, NOW));
        ByteBuf blind = TestPacket.tcp(CLIENT, 41010, VIP, 80, TcpFlags.RST).seq(oldNext + 5, 0).build();
        assertEquals(Verdict.DROP, engine.processor.process(blind, NOW), "not the answer to that ACK");
        ByteBuf answer = TestPacket.tcp(CLIENT, 41010, VIP, 80, TcpFlags.RST).seq(oldNext, 0).build();
        assertEquals(Verdict.FORWARD, engine.processor.process(answer, NOW), "the client's reset of the old connection reaches the backend");
        assertEquals(FlowState.TCP_CLOSED, engine.flow(Ipv4.PROTO_TCP, CLIENT, 41010, VIP, 80).state());
        ByteBuf again = TestPacket.tcp(CLIENT, 41010, VIP, 80, TcpFlags.SYN).seq(CLIENT_ISN, 0).build();
        assertEquals(Verdict.FORWARD, engine.processor.process(again, NOW + 1000), "the SYN's retransmission opens the flow afresh");
        assertEquals(FlowState.TCP_SYN_SENT, engine.flow(Ipv4.PROTO_TCP, CLIENT, 41010, VIP, 80).state());
    }

    @Test
    void aSpoofedSynOnAnEstablishedTupleKeepsItsBackendAndMovesNoWindow() throws Exception {
        Connection c = new Connection(new EngineHarness(), 41008);
        ByteBuf spoofed = TestPacket.tcp(CLIENT, 41008, VIP, 80, TcpFlags.SYN).seq(123_456_789L, 0).build();
        assertEquals(Verdict.FORWARD, c.engine.processor.process(spoofed, NOW), "passed on: the backend answers with a challenge ACK");
        assertEquals(c.flow.backendAddress(), spoofed.getInt(16), "to the flow's own backend");
        spoofed.release();
        FlowLookup after = c.engine.flow(Ipv4.PROTO_TCP, CLIENT, 41008, VIP, 80);
        assertEquals(c.flow.backendAddress(), after.backendAddress());
        assertEquals(c.flow.snatPort(), after.snatPort());
        assertEquals(FlowState.TCP_ESTABLISHED, after.state());
        // The spoofer's follow-up RST at its own SYN's sequence does not land.
        assertEquals(Verdict.DROP, c.send(c.fromClient(TcpFlags.RST, 123_456_790L)));
        assertEquals(FlowState.TCP_ESTABLISHED, c.state());
    }

    @Test
    void aFlowFromThePeerLearnsItsWindowFromItsFirstSegments() throws Exception {
        EngineHarness engine = new EngineHarness();
        FlowSnapshot record = new FlowSnapshot().setKey(Ipv4.PROTO_TCP, Ipv4.parse(CLIENT), 41009, Ipv4.parse(VIP), 80)
                .setMapping(Ipv4.parse("198.19.0.11"), 8080, Ipv4.parse(SNAT), 5000)
                .setState(FlowState.TCP_ESTABLISHED, false, NOW, 1);
        engine.flows.install(record, false, NOW);
        ByteBuf first = TestPacket.tcp(CLIENT, 41009, VIP, 80, TcpFlags.ACK).seq(9_000_000L, 1).payload("after the takeover").build();
        assertEquals(Verdict.FORWARD, engine.processor.process(first, NOW), "picked up mid-stream");
        ByteBuf blind = TestPacket.tcp(CLIENT, 41009, VIP, 80, TcpFlags.RST).seq(1_000L, 0).build();
        assertEquals(Verdict.DROP, engine.processor.process(blind, NOW));
        assertEquals(DropReason.RST_OUT_OF_WINDOW, engine.processor.lastDropReason());
        assertEquals(FlowState.TCP_ESTABLISHED, engine.flow(Ipv4.PROTO_TCP, CLIENT, 41009, VIP, 80).state());
    }

    /** A flow the fast path carried: the engine judges a RST by where the kernel last saw the sender. */
    @Test
    void aFastPathFlowsResetIsJudgedByTheSequenceTheKernelLastSaw() throws Exception {
        Connection c = new Connection(new EngineHarness(), 41011);
        long kernelSaw = c.clientNext + 5_000_000; // 5 MB went through the kernel, past the engine
        c.engine.flows.setFastPathHook(new KernelView(kernelSaw & 0xFFFF_FFFFL, -1));
        assertTrue(c.engine.flows.markFast(c.flow));
        assertEquals(Verdict.DROP, c.send(c.fromClient(TcpFlags.RST, c.clientNext)), "where the engine last saw it: long past, a blind guess");
        assertEquals(DropReason.RST_OUT_OF_WINDOW, c.lastDrop());
        assertEquals(FlowState.TCP_ESTABLISHED, c.state());
        assertEquals(Verdict.FORWARD, c.send(c.fromClient(TcpFlags.RST, kernelSaw)), "where the kernel saw it: the real reset");
        assertEquals(FlowState.TCP_CLOSED, c.state());
    }
    /**
     * A blind spoofer's handshake: its SYN, then an ACK at the right sequence number but any
     * acknowledgment number (it never saw the SYN-ACK). The ACK must acknowledge the backend's ISN
     * + 1, as Linux conntrack requires: it reaches the backend (which answers it with a RST at its
     * acknowledgment number, RFC 9293 §3.10.7.4), the flow stays half-open, and that RST ends it.
     */
    @Test
    void aHandshakeAckThatDoesNotAcknowledgeTheSynAckNeitherEstablishesNorLingers() throws Exception {
        EngineHarness engine = new EngineHarness();
        int port = 41020;
        ByteBuf syn = TestPacket.tcp(CLIENT, port, VIP, 80, TcpFlags.SYN).seq(CLIENT_ISN, 0).build();
        assertEquals(Verdict.FORWARD, engine.processor.process(syn, NOW));
        FlowLookup flow = engine.flow(Ipv4.PROTO_TCP, CLIENT, port, VIP, 80);
        String backend = Ipv4.format(flow.backendAddress());
        ByteBuf synAck = TestPacket.tcp(backend, 8080, SNAT, flow.snatPort(), TcpFlags.SYN | TcpFlags.ACK).seq(BACKEND_ISN, CLIENT_ISN + 1).build();
        assertEquals(Verdict.FORWARD, engine.processor.process(synAck, NOW));
        long bogus = BACKEND_ISN + 1 + 40_000_000; // far from the backend's window: its RST there is no blind guess at it
        ByteBuf blindAck = TestPacket.tcp(CLIENT, port, VIP, 80, TcpFlags.ACK).seq(CLIENT_ISN + 1, bogus).build();
        assertEquals(Verdict.FORWARD, engine.processor.process(blindAck, NOW), "passed on: the backend answers it with a RST");
        assertEquals(FlowState.TCP_SYN_RECV, engine.flow(Ipv4.PROTO_TCP, CLIENT, port, VIP, 80).state(), "not established");
        assertEquals(1, engine.processor.counters().handshakeAcksRefused());
        assertEquals(1, engine.flows.embryonic(), "still half-open: the cap and early drop see it");
        ByteBuf notTheAnswer = TestPacket.tcp(backend, 8080, SNAT, flow.snatPort(), TcpFlags.RST).seq(bogus + 1, 0).build();
        assertEquals(Verdict.DROP, engine.processor.process(notTheAnswer, NOW));
        ByteBuf answer = TestPacket.tcp(backend, 8080, SNAT, flow.snatPort(), TcpFlags.RST).seq(bogus, 0).build();
        assertEquals(Verdict.FORWARD, engine.processor.process(answer, NOW), "the backend's answer to the bogus ACK");
        assertEquals(FlowState.TCP_CLOSED, engine.flow(Ipv4.PROTO_TCP, CLIENT, port, VIP, 80).state());
    }

    @Test
    void aBlindAckBeforeTheSynAckDoesNotEstablishEitherAndTheRealAckStillDoes() throws Exception {
        EngineHarness engine = new EngineHarness();
        int port = 41021;
        ByteBuf syn = TestPacket.tcp(CLIENT, port, VIP, 80, TcpFlags.SYN).seq(CLIENT_ISN, 0).build();
        engine.processor.process(syn, NOW);
        FlowLookup flow = engine.flow(Ipv4.PROTO_TCP, CLIENT, port, VIP, 80);
        String backend = Ipv4.format(flow.backendAddress());
        ByteBuf early = TestPacket.tcp(CLIENT, port, VIP, 80, TcpFlags.ACK).seq(CLIENT_ISN + 1, 99).build();
        assertEquals(Verdict.FORWARD, engine.processor.process(early, NOW));
        ByteBuf synAck = TestPacket.tcp(backend, 8080, SNAT, flow.snatPort(), TcpFlags.SYN | TcpFlags.ACK).seq(BACKEND_ISN, CLIENT_ISN + 1).build();
        engine.processor.process(synAck, NOW);
        for (long ack : new long[] {BACKEND_ISN, BACKEND_ISN + 2, 0}) {
            ByteBuf wrong = TestPacket.tcp(CLIENT, port, VIP, 80, TcpFlags.ACK | TcpFlags.PSH).seq(CLIENT_ISN + 1, ack).payload("x").build();
            engine.processor.process(wrong, NOW);
            assertEquals(FlowState.TCP_SYN_RECV, engine.flow(Ipv4.PROTO_TCP, CLIENT, port, VIP, 80).state(), "ack " + ack);
        }
        ByteBuf real = TestPacket.tcp(CLIENT, port, VIP, 80, TcpFlags.ACK).seq(CLIENT_ISN + 1, BACKEND_ISN + 1).build();
        assertEquals(Verdict.FORWARD, engine.processor.process(real, NOW));
        assertEquals(FlowState.TCP_ESTABLISHED, engine.flow(Ipv4.PROTO_TCP, CLIENT, port, VIP, 80).state());
    }

    /**
     * An established flow that never carried data both ways expires after the short
     * {@code tcp_unconfirmed} timeout (300 s), not the established one (5 days); one that did keeps
     * the established timeout.
     */
    @Test
    void anEstablishedFlowWithoutDataBothWaysExpiresSoon() throws Exception {
        EngineHarness engine = new EngineHarness();
        Connection silent = new Connection(engine, 41022);
        silent.clientData(10); // the client spoke, the backend never did
        Connection talking = new Connection(engine, 41023);
        talking.clientData(10);
        assertEquals(Verdict.FORWARD, talking.send(talking.fromBackend(TcpFlags.ACK | TcpFlags.PSH, talking.backendNext).payload(new byte[20])));
        long later = NOW + 301_000;
        int expired = 0;
        for (int i = 0; i < 100; i++) {
            expired += engine.flows.expire(later, 64);
        }
        assertEquals(1, expired);
        assertEquals(null, engine.flow(Ipv4.PROTO_TCP, CLIENT, 41022, VIP, 80), "no data from the backend: gone after 300 s");
        assertEquals(FlowState.TCP_ESTABLISHED, engine.flow(Ipv4.PROTO_TCP, CLIENT, 41023, VIP, 80).state(), "data both ways: 5 days");
    }

    /** The fast path carried the flow's data both ways, past the engine: the kernel's counts confirm it. */
    @Test
    void aFastPathFlowWhoseDataWentThroughTheKernelBothWaysKeepsTheEstablishedTimeout() throws Exception {
        EngineHarness engine = new EngineHarness();
        Connection viaKernel = new Connection(engine, 41024);
        Connection silent = new Connection(engine, 41025);
        engine.flows.setFastPathHook(new KernelView(-1, -1).carrying(41024, NOW + 10));
        assertTrue(engine.flows.markFast(viaKernel.flow));
        assertTrue(engine.flows.markFast(silent.flow));
        int expired = 0;
        for (int i = 0; i < 100; i++) {
            expired += engine.flows.expire(NOW + 400_000, 64);
        }
        assertEquals(1, expired);
        assertEquals(FlowState.TCP_ESTABLISHED, engine.flow(Ipv4.PROTO_TCP, CLIENT, 41024, VIP, 80).state());
        assertEquals(null, engine.flow(Ipv4.PROTO_TCP, CLIENT, 41025, VIP, 80));
    }

    /**
     * A segment the program passed on because it started more than 64 KiB past where the kernel
     * saw its side (segments lost upstream): the engine judges it by the real window and, as it
     * counts, moves the kernel's entry on, so the next segments go fast again. A blind one far
     * outside the window moves nothing.
     */
    @Test
    void aSegmentTheKernelPassedOnThatCountsMovesTheKernelsEntryOn() throws Exception {
        Connection c = new Connection(new EngineHarness(), 41026, CLIENT_ISN, BACKEND_ISN, 7, 7, 2000);
        assertEquals(Verdict.FORWARD, c.send(c.fromBackend(TcpFlags.ACK, c.backendNext).window(2000))); // 256,000 bytes offered
        long kernelSaw = c.clientNext;
        KernelView kernel = new KernelView(kernelSaw, BACKEND_ISN + 1);
        c.engine.flows.setFastPathHook(kernel);
        assertTrue(c.engine.flows.markFast(c.flow));
        assertEquals(Verdict.FORWARD, c.send(c.fromClient(TcpFlags.ACK, kernelSaw + 100_000).payload(new byte[50])));
        assertEquals(List.of(kernelSaw + 100_050), kernel.advanced, "in the 256,000-byte window: the kernel's entry follows");
        assertEquals(Verdict.FORWARD, c.send(c.fromClient(TcpFlags.ACK, kernelSaw + 50_000_000).payload(new byte[50])));
        assertEquals(1, kernel.advanced.size(), "far outside the window: forwarded without effect, nothing moved");
    }

    /**
     * What the flow table asks of the fast path, answered as a kernel would: where it saw each
     * side (-1: nothing), which client port's flow it forwarded both ways and when; records
     * where the engine moved the client's side on.
     */
    private static final class KernelView implements FastPathHook {
        final long clientEnd;
        final long backendEnd;
        final List<Long> advanced = new ArrayList<>();
        int carriedPort = -1;
        long carriedAt;

        KernelView(long clientEnd, long backendEnd) {
            this.clientEnd = clientEnd;
            this.backendEnd = backendEnd;
        }

        KernelView carrying(int clientPort, long lastForwardedMillis) {
            carriedPort = clientPort;
            carriedAt = lastForwardedMillis;
            return this;
        }

        @Override
        public boolean install(FlowFields flow) {
            return true;
        }

        @Override
        public void removed(FlowFields flow) {
        }

        @Override
        public long lastForwardedMillis(FlowFields flow) {
            return flow.clientPort() == carriedPort ? carriedAt : 0;
        }

        @Override
        public boolean carriedBothWays(FlowFields flow) {
            return flow.clientPort() == carriedPort;
        }

        @Override
        public void sequenceAdvanced(FlowFields flow, boolean fromClient, long end) {
            advanced.add(fromClient ? end : -end);
        }

        @Override
        public long sequenceEnd(FlowFields flow, boolean fromClient) {
            return fromClient ? clientEnd : backendEnd;
        }
    }
}
