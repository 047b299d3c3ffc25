package io.tandem.statesync;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SyncCodecTest {
    static FlowRecord record(Random r) {
        return r.nextInt(4) == 0 ? record6(r) : record4(r);
    }

    static FlowRecord record6(Random r) {
        return new FlowRecord((r.nextBoolean() ? 6 : 17) | FlowRecord.IPV6, 0, r.nextInt(65536), 0, r.nextInt(65536),
                0, r.nextInt(65536), 0, r.nextInt(65536), r.nextInt(16), r.nextInt(256), r.nextLong(), r.nextLong(), r.nextBoolean(),
                new FlowRecord.Ipv6Addresses(r.nextLong(), r.nextLong(), r.nextLong(), r.nextLong(), r.nextLong(), r.nextLong(),
                        r.nextLong(), r.nextLong()));
    }

    static FlowRecord record4(Random r) {
        return new FlowRecord(r.nextBoolean() ? 6 : 17, r.nextInt(), r.nextInt(65536), r.nextInt(), r.nextInt(65536),
                r.nextInt(), r.nextInt(65536), r.nextInt(), r.nextInt(65536), r.nextInt(16), r.nextInt(256),
                r.nextLong(), r.nextLong(), r.nextBoolean());
    }

    @Test
    void recordsRoundTripExactly() throws Exception {
        Random random = new Random(4);
        for (int n : new int[] {0, 1, 2, SyncCodec.MAX_BATCH}) {
            List<FlowRecord> records = random.ints(n).mapToObj(i -> record(random)).toList();
            byte[] bytes = SyncCodec.encodeRecords(1234L, records);
            long ipv6 = records.stream().filter(FlowRecord::isIpv6).count();
            assertEquals(SyncCodec.HEADER + (n - ipv6) * SyncCodec.RECORD_SIZE + ipv6 * SyncCodec.RECORD_SIZE_IPV6, bytes.length);
            SyncMessage.Records decoded = (SyncMessage.Records) SyncCodec.decode(bytes, 0, bytes.length);
            assertEquals(1234L, decoded.sentAtMillis());
            assertEquals(records, decoded.records());
        }
        assertTrue(SyncCodec.MAX_BATCH * SyncCodec.RECORD_SIZE <= 16_384, "a batch is a few KB");
        assertTrue(SyncCodec.MAX_BATCH * SyncCodec.RECORD_SIZE_IPV6 <= 32_768, "of IPv6 flows, a few more");
    }

    /** Version 4: an IPv6 flow's record carries its four 128-bit addresses; a record's protocol says its family. */
    @Test
    void ipv6RecordsCarryTheirAddressesAndTheirProtocolBitMustMatch() throws Exception {
        FlowRecord.Ipv6Addresses a = new FlowRecord.Ipv6Addresses(0x2001000200000000L, 0x10L, 0x2001000200000000L, 0x100L,
                0x2001000200000001L, 0x11L, 0x2001000200000001L, 0x100L);
        FlowRecord r = new FlowRecord(6 | FlowRecord.IPV6, 0, 40000, 0, 80, 0, 8080, 0, 1025, 3, 0, 5L, 9L, false, a);
        FlowRecord v4 = new FlowRecord(6, 1, 40000, 2, 80, 3, 8080, 4, 1025, 3, 0, 5L, 9L, false);
        byte[] bytes = SyncCodec.encodeRecords(0L, List.of(r, v4));
        assertEquals(SyncCodec.HEADER + SyncCodec.RECORD_SIZE_IPV6 + SyncCodec.RECORD_SIZE, bytes.length);
        assertEquals(List.of(r, v4), ((SyncMessage.Records) SyncCodec.decode(bytes, 0, bytes.length)).records());
        assertTrue(!r.key().equals(v4.key()) && r.key().equals(new FlowRecord(6 | FlowRecord.IPV6, 0, 40000, 0, 80, 0, 1, 0, 2,
                1, 0, 0L, 1L, true, new FlowRecord.Ipv6Addresses(a.clientHigh(), a.clientLow(), a.vipHigh(), a.vipLow(), 0, 0, 0, 0))
                .key()), "the key is the original tuple, whatever the mapping");
        assertTrue(r.mappingHash() != new FlowRecord(6 | FlowRecord.IPV6, 0, 40000, 0, 80, 0, 8080, 0, 1025, 3, 0, 5L, 9L, false,
                new FlowRecord.Ipv6Addresses(a.clientHigh(), a.clientLow(), a.vipHigh(), a.vipLow(), a.backendHigh(), 0x12L,
                        a.snatHigh(), a.snatLow())).mappingHash(), "another backend is another mapping");
        assertThrows(IllegalArgumentException.class, () -> new FlowRecord(6, 0, 1, 0, 2, 0, 3, 0, 4, 1, 0, 0L, 0L, false, a));
        assertThrows(IllegalArgumentException.class, () -> new FlowRecord(6 | FlowRecord.IPV6, 0, 1, 0, 2, 0, 3, 0, 4, 1, 0, 0L, 0L,
                false));
        byte[] flipped = Arrays.copyOf(bytes, bytes.length);
        flipped[SyncCodec.HEADER] = 6; // an IPv6 record's bytes read as IPv4: the lengths no longer add up
        assertThrows(SyncDecodeException.class, () -> SyncCodec.decode(flipped, 0, flipped.length));
    }

    /** Found by fuzzing: version 1 padded each batch with 4 unread bytes per record. */
    @Test
    void everyByteOfARecordCarriesAFieldAndNothingTrails() throws Exception {
        FlowRecord r = new FlowRecord(6, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11L, 0x0102030405060708L, false);
        byte[] bytes = SyncCodec.encodeRecords(0L, List.of(r));
        assertEquals(0x08, bytes[bytes.length - 1], "the last byte is the version's lowest");
        byte[] padded = Arrays.copyOf(bytes, bytes.length + 4);
        assertThrows(SyncDecodeException.class, () -> SyncCodec.decode(padded, 0, padded.length));
    }

    @Test
    void digestAndResyncRoundTrip() throws Exception {
        long[] ranges = new Random(9).longs(FlowDigest.RANGES).toArray();
        byte[] bytes = SyncCodec.encodeDigest(5L, ranges);
        assertArrayEquals(ranges, ((SyncMessage.Digest) SyncCodec.decode(bytes, 0, bytes.length)).ranges());
        byte[] resync = SyncCodec.encodeResync(6L, 41L, 3L, List.of(0, 17, 255));
        SyncMessage.ResyncRequest request = (SyncMessage.ResyncRequest) SyncCodec.decode(resync, 0, resync.length);
        assertEquals(List.of(0, 17, 255), request.ranges());
        assertEquals(41L, request.requestId());
        assertEquals(3L, request.epoch());
        byte[] end = SyncCodec.encodeRangeEnd(6L, 41L, 3L, 1234L, List.of(9));
        SyncMessage.RangeEnd decodedEnd = (SyncMessage.RangeEnd) SyncCodec.decode(end, 0, end.length);
        assertEquals(List.of(41L, 3L, 1234L, 9L), List.of(decodedEnd.requestId(), decodedEnd.epoch(), decodedEnd.records(),
                (long) decodedEnd.ranges().getFirst()));
    }

    @Test
    void announcementsRoundTripAndOversizedOnesAreRefused() throws Exception {
        byte[] payload = "{\"role\":\"ACTIVE\"}".getBytes(StandardCharsets.UTF_8);
        byte[] bytes = SyncCodec.encodeAnnouncement(7L, payload);
        SyncMessage.Announcement a = (SyncMessage.Announcement) SyncCodec.decode(bytes, 0, bytes.length);
        assertArrayEquals(payload, a.payload());
        assertEquals(7L, a.sentAtMillis());
        assertThrows(IllegalArgumentException.class, () -> SyncCodec.encodeAnnouncement(1L, new byte[SyncCodec.MAX_ANNOUNCEMENT + 1]));
        byte[] forged = Arrays.copyOf(bytes, bytes.length);
        forged[10] = (byte) 0xFF; // announces 65k+ bytes
        assertEquals("announcement of " + (0xFF00 + payload.length) + " bytes; at most " + SyncCodec.MAX_ANNOUNCEMENT,
                assertThrows(SyncDecodeException.class, () -> SyncCodec.decode(forged, 0, forged.length)).getMessage());
        assertEquals("announcement: " + (payload.length - 1) + " bytes of payload, the header announces " + payload.length,
                assertThrows(SyncDecodeException.class, () -> SyncCodec.decode(bytes, 0, bytes.length - 1)).getMessage());
    }

    @Test
    void everyTruncationIsADecodeError() {
        byte[] bytes = SyncCodec.encodeRecords(1L, List.of(record(new Random(1)), record(new Random(2))));
        for (int length = 0; length < bytes.length; length++) {
            int cut = length;
            assertThrows(SyncDecodeException.class, () -> SyncCodec.decode(bytes, 0, cut), "cut at " + cut);
        }
    }

    @Test
    void forgedHeadersAndValuesAreRejectedWithAReason() {
        byte[] good = SyncCodec.encodeRecords(1L, List.of(record4(new Random(3))));
        assertEquals("unsupported format version 3 (this side speaks 4): the peer runs another release; upgrade both boxes"
                + " to the same one. Until then no flow reaches the other box: a takeover resets every connection the standby"
                + " has not got", reject(good, 0, (byte) 3));
        assertEquals("unknown message type 9", reject(good, 1, (byte) 9));
        assertEquals("records: 44 bytes of payload cannot hold 2 records", reject(good, 11, (byte) 2));
        assertEquals("record 0: protocol 1 is neither TCP nor UDP over IPv4 or IPv6", reject(good, 12, (byte) 1));
        assertEquals("record 0: invalid removed flag 7 or state " + Byte.toUnsignedInt(good[14]), reject(good, 13, (byte) 7));
        byte[] digest = SyncCodec.encodeDigest(1L, new long[FlowDigest.RANGES]);
        byte[] shortDigest = Arrays.copyOf(digest, digest.length);
        shortDigest[10] = 0;
        assertEquals("digest of 255 ranges; expected 256", reject(shortDigest, 11, (byte) 255));
    }

    @Test
    void randomBytesNeverThrowAnythingElse() {
        Random random = new Random(77);
        for (int i = 0; i < 100_000; i++) {
            byte[] junk = new byte[random.nextInt(120)];
            random.nextBytes(junk);
            if (junk.length > 1 && random.nextBoolean()) {
                junk[0] = SyncCodec.VERSION;
                junk[1] = (byte) (1 + random.nextInt(6));
            }
            try {
                SyncCodec.decode(junk, 0, junk.length);
            } catch (SyncDecodeException expected) {
                // the only failure allowed
            }
        }
    }

    private static String reject(byte[] original, int index, byte value) {
        byte[] forged = Arrays.copyOf(original, original.length);
        forged[index] = value;
        return assertThrows(SyncDecodeException.class, () -> SyncCodec.decode(forged, 0, forged.length)).getMessage();
    }
}
