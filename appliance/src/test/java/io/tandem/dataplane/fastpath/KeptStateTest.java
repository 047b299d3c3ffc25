package io.tandem.dataplane.fastpath;

import io.tandem.conntrack.FlowState;
import io.tandem.packet.Ipv4;
import org.junit.jupiter.api.Test;

import static io.tandem.dataplane.fastpath.FastPathProgram.NAT_AWAIT_SYNACK;
import static io.tandem.dataplane.fastpath.FastPathProgram.NAT_FIN_SEEN;
import static io.tandem.dataplane.fastpath.FastPathProgram.NAT_REPORT_ACK;
import static io.tandem.dataplane.fastpath.FastPathProgram.NAT_SEQ_KNOWN;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A restarted tandemd reads each kept flow's state from what the program noted in its two entries. */
class KeptStateTest {
    @Test
    void theEntriesFlagsGiveTheFlowsState() {
        assertEquals(FlowState.UDP_ASSURED, FastPath.keptState(Ipv4.PROTO_UDP, 0, 0));
        assertEquals(FlowState.TCP_ESTABLISHED, FastPath.keptState(Ipv4.PROTO_TCP, NAT_SEQ_KNOWN, NAT_SEQ_KNOWN));
        assertEquals(FlowState.TCP_SYN_RECV, FastPath.keptState(Ipv4.PROTO_TCP, NAT_REPORT_ACK | NAT_SEQ_KNOWN, NAT_SEQ_KNOWN),
                "the handshake's last ACK still awaited");
        assertEquals(FlowState.TCP_SYN_SENT, FastPath.keptState(Ipv4.PROTO_TCP, NAT_REPORT_ACK | NAT_SEQ_KNOWN, NAT_AWAIT_SYNACK),
                "the SYN-ACK still awaited");
        assertEquals(FlowState.TCP_FIN_WAIT, FastPath.keptState(Ipv4.PROTO_TCP, NAT_SEQ_KNOWN | NAT_FIN_SEEN, NAT_SEQ_KNOWN));
        assertEquals(FlowState.TCP_FIN_WAIT, FastPath.keptState(Ipv4.PROTO_TCP, NAT_SEQ_KNOWN, NAT_FIN_SEEN));
        assertEquals(FlowState.TCP_TIME_WAIT, FastPath.keptState(Ipv4.PROTO_TCP, NAT_FIN_SEEN, NAT_FIN_SEEN | NAT_SEQ_KNOWN));
        assertTrue(FastPath.finFromReply(0, NAT_FIN_SEEN), "the backend closed first");
        assertFalse(FastPath.finFromReply(NAT_FIN_SEEN, 0));
        assertFalse(FastPath.finFromReply(NAT_FIN_SEEN, NAT_FIN_SEEN));
    }
}
