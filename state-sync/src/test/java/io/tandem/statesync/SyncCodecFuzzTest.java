package io.tandem.statesync;

import com.code_intelligence.jazzer.junit.FuzzTest;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/**
 * Coverage-guided fuzzing (Jazzer) of what a peer's bytes meet first. The decoder must turn any
 * bytes into a message or a {@link SyncDecodeException} — never another exception, never a
 * hang — and accept only what the encoder writes: a decoded message, encoded again, gives back
 * exactly the input bytes (nothing ignored, nothing reinterpreted). The build fuzzes it for its
 * {@code maxDuration}; crashing inputs land in
 * {@code src/test/resources/io/tandem/statesync/SyncCodecFuzzTestInputs} and are replayed by
 * every build. Longer runs: docs/fuzzing.md.
 */
class SyncCodecFuzzTest {
    @FuzzTest(maxDuration = "15s")
    void anyBytesDecodeToWhatTheEncoderWritesOrToADecodeError(byte[] input) {
        SyncMessage message;
        try {
            message = SyncCodec.decode(input, 0, input.length);
        } catch (SyncDecodeException refused) {
            return;
        }
        assertNotNull(message, "decode returned null");
        assertArrayEquals(input, encode(message),
                () -> "accepted bytes the encoder would not write: " + HexFormat.of().formatHex(input) + " as " + message);
    }

    private static byte[] encode(SyncMessage message) {
        return switch (message) {
            case SyncMessage.Records r -> SyncCodec.encodeRecords(r.sentAtMillis(), r.records());
            case SyncMessage.Digest d -> SyncCodec.encodeDigest(d.sentAtMillis(), d.ranges());
            case SyncMessage.ResyncRequest q -> SyncCodec.encodeResync(q.sentAtMillis(), q.requestId(), q.epoch(), q.ranges());
            case SyncMessage.RangeBegin b -> SyncCodec.encodeRangeBegin(b.sentAtMillis(), b.requestId(), b.epoch(), b.ranges());
            case SyncMessage.RangeEnd e -> SyncCodec.encodeRangeEnd(e.sentAtMillis(), e.requestId(), e.epoch(), e.records(), e.ranges());
            case SyncMessage.Announcement a -> SyncCodec.encodeAnnouncement(a.sentAtMillis(), a.payload());
        };
    }
}
