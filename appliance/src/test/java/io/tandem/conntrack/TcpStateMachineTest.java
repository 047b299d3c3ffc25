package io.tandem.conntrack;

import io.tandem.packet.TcpFlags;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertEquals;

class TcpStateMachineTest {

    @ParameterizedTest(name = "{0} + {1} from {2} (first FIN from reply: {3}) -> {4}")
    @CsvSource({
            "TCP_SYN_SENT,    SYN,     ORIGINAL, false, TCP_SYN_SENT",
            "TCP_SYN_SENT,    SYN|ACK, REPLY,    false, TCP_SYN_RECV",
            "TCP_SYN_SENT,    SYN|ACK, ORIGINAL, false, TCP_SYN_SENT",
            "TCP_SYN_RECV,    ACK,     ORIGINAL, false, TCP_ESTABLISHED",
            "TCP_SYN_RECV,    ACK,     REPLY,    false, TCP_SYN_RECV",
            "TCP_ESTABLISHED, ACK,     REPLY,    false, TCP_ESTABLISHED",
            "TCP_ESTABLISHED, FIN|ACK, ORIGINAL, false, TCP_FIN_WAIT",
            "TCP_ESTABLISHED, FIN|ACK, REPLY,    false, TCP_FIN_WAIT",
            "TCP_FIN_WAIT,    ACK,     ORIGINAL, false, TCP_FIN_WAIT",
            "TCP_FIN_WAIT,    ACK,     REPLY,    false, TCP_CLOSE_WAIT",
            "TCP_FIN_WAIT,    FIN|ACK, REPLY,    false, TCP_TIME_WAIT",
            "TCP_FIN_WAIT,    FIN|ACK, ORIGINAL, true,  TCP_TIME_WAIT",
            "TCP_FIN_WAIT,    FIN|ACK, REPLY,    true,  TCP_FIN_WAIT",
            "TCP_CLOSE_WAIT,  FIN|ACK, REPLY,    false, TCP_TIME_WAIT",
            "TCP_CLOSE_WAIT,  ACK,     REPLY,    false, TCP_CLOSE_WAIT",
            "TCP_TIME_WAIT,   SYN,     ORIGINAL, false, TCP_TIME_WAIT",
            "TCP_TIME_WAIT,   ACK,     ORIGINAL, false, TCP_TIME_WAIT",
            "TCP_CLOSED,      SYN,     ORIGINAL, false, TCP_CLOSED",
            "TCP_CLOSED,      SYN,     REPLY,    false, TCP_CLOSED",
            "TCP_ESTABLISHED, RST,     REPLY,    false, TCP_CLOSED",
            "TCP_SYN_SENT,    RST|ACK, REPLY,    false, TCP_CLOSED",
    })
    void transitions(FlowState from, String flags, FlowDirection direction, boolean finFromReply, FlowState to) {
        assertEquals(to, TcpStateMachine.next(from, parse(flags), direction, finFromReply));
    }

    private static int parse(String flags) {
        int f = 0;
        for (String name : flags.split("\\|")) {
            f |= switch (name.trim()) {
                case "SYN" -> TcpFlags.SYN;
                case "ACK" -> TcpFlags.ACK;
                case "FIN" -> TcpFlags.FIN;
                case "RST" -> TcpFlags.RST;
                default -> throw new IllegalArgumentException(name);
            };
        }
        return f;
    }

}
