package io.tandem.statesync;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The wire format, versioned and fixed-size, never Java serialization:
 * <pre>
 * header   version(1)=4  type(1)  sentAtMillis(8)  count(2)
 * RECORDS  count records, each 44 bytes (IPv4) or 92 (IPv6: protocol has bit 0x80):
 *          protocol(1) removed(1) state(1) flags(1) client(4|16) vip(4|16) backend(4|16) snat(4|16)
 *          clientPort(2) vipPort(2) backendPort(2) snatPort(2) lastSeenMillis(8) version(8)
 * DIGEST   count=256 × range value(8)
 * RESYNC, RANGE_BEGIN  requestId(8) epoch(8)  count × range(1)
 * RANGE_END            requestId(8) epoch(8) records(8)  count × range(1)
 * ANNOUNCE count bytes (at most {@link #MAX_ANNOUNCEMENT}) the layer above reads: the node's
 *          role and health for the peer's status page; opaque here
 * </pre>
 * All big-endian. Decoding checks every length and value and throws nothing but
 * {@link SyncDecodeException}. Authenticity is the transport's job (authenticated encryption
 * in the JGroups stack); this format only refuses what cannot be a valid message.
 */
public final class SyncCodec {
    /**
     * 4: a record is IPv4 or IPv6 (16-byte addresses), its protocol says which (issue 21). 3: a range resync is a request with an id and an epoch that its answer echoes, and its end
     * says how many records it sent (issue 20). 2: records are 44 bytes. Version 1 sized its
     * batches for 48-byte records and left the difference as trailing zeros its decoder ignored
     * (found by fuzzing: accepted bytes must be exactly what the encoder writes).
     */
    public static final byte VERSION = 4;
    static final byte TYPE_RECORDS = 1;
    static final byte TYPE_DIGEST = 2;
    static final byte TYPE_RESYNC = 3;
    static final byte TYPE_RANGE_BEGIN = 4;
    static final byte TYPE_RANGE_END = 5;
    static final byte TYPE_ANNOUNCE = 6;
    /** An announcement is small: a few hundred bytes of JSON. */
    public static final int MAX_ANNOUNCEMENT = 2048;
    static final int HEADER = 12;
    public static final int RECORD_SIZE = 44;
    public static final int RECORD_SIZE_IPV6 = 92;
    /** Records per batch: about 15 KB. */
    public static final int MAX_BATCH = 340;
    private static final int MAX_STATE_CODE = 15;

    private SyncCodec() {
    }

    public static byte[] encodeRecords(long sentAtMillis, List<FlowRecord> records) {
        if (records.size() > 0xFFFF) {
            throw new IllegalArgumentException("batch of " + records.size() + " records; at most 65535");
        }
        int bytes = 0;
        for (FlowRecord r : records) {
            bytes += r.isIpv6() ? RECORD_SIZE_IPV6 : RECORD_SIZE;
        }
        ByteBuffer buf = header(TYPE_RECORDS, sentAtMillis, records.size(), bytes);
        for (FlowRecord r : records) {
            buf.put((byte) r.protocol()).put((byte) (r.removed() ? 1 : 0)).put((byte) r.state()).put((byte) r.flags());
            FlowRecord.Ipv6Addresses a = r.ipv6();
            if (a == null) {
                buf.putInt(r.clientAddress()).putInt(r.vipAddress()).putInt(r.backendAddress()).putInt(r.snatAddress());
            } else {
                buf.putLong(a.clientHigh()).putLong(a.clientLow()).putLong(a.vipHigh()).putLong(a.vipLow())
                        .putLong(a.backendHigh()).putLong(a.backendLow()).putLong(a.snatHigh()).putLong(a.snatLow());
            }
            buf.putShort((short) r.clientPort()).putShort((short) r.vipPort())
                    .putShort((short) r.backendPort()).putShort((short) r.snatPort())
                    .putLong(r.lastSeenMillis()).putLong(r.version());
        }
        return buf.array();
    }

    public static byte[] encodeDigest(long sentAtMillis, long[] ranges) {
        ByteBuffer buf = header(TYPE_DIGEST, sentAtMillis, ranges.length, ranges.length * 8);
        for (long r : ranges) {
            buf.putLong(r);
        }
        return buf.array();
    }

    public static byte[] encodeResync(long sentAtMillis, long requestId, long epoch, List<Integer> ranges) {
        return encodeRanges(TYPE_RESYNC, sentAtMillis, new long[] {requestId, epoch}, ranges);
    }

    public static byte[] encodeRangeBegin(long sentAtMillis, long requestId, long epoch, List<Integer> ranges) {
        return encodeRanges(TYPE_RANGE_BEGIN, sentAtMillis, new long[] {requestId, epoch}, ranges);
    }

    public static byte[] encodeRangeEnd(long sentAtMillis, long requestId, long epoch, long records, List<Integer> ranges) {
        return encodeRanges(TYPE_RANGE_END, sentAtMillis, new long[] {requestId, epoch, records}, ranges);
    }

    public static byte[] encodeAnnouncement(long sentAtMillis, byte[] payload) {
        if (payload.length > MAX_ANNOUNCEMENT) {
            throw new IllegalArgumentException("announcement of " + payload.length + " bytes; at most " + MAX_ANNOUNCEMENT);
        }
        return header(TYPE_ANNOUNCE, sentAtMillis, payload.length, payload.length).put(payload).array();
    }

    private static byte[] encodeRanges(byte type, long sentAtMillis, long[] fields, List<Integer> ranges) {
        ByteBuffer buf = header(type, sentAtMillis, ranges.size(), fields.length * 8 + ranges.size());
        for (long f : fields) {
            buf.putLong(f);
        }
        for (int r : ranges) {
            buf.put((byte) r);
        }
        return buf.array();
    }

    private static ByteBuffer header(byte type, long sentAtMillis, int count, int payload) {
        return ByteBuffer.allocate(HEADER + payload).put(VERSION).put(type).putLong(sentAtMillis).putShort((short) count);
    }

    public static SyncMessage decode(byte[] bytes, int offset, int length) throws SyncDecodeException {
        if (bytes == null || offset < 0 || length < 0 || offset + length > bytes.length) {
            throw new SyncDecodeException("no message");
        }
        if (length < HEADER) {
            throw new SyncDecodeException("truncated: " + length + " bytes, a header is " + HEADER);
        }
        ByteBuffer buf = ByteBuffer.wrap(bytes, offset, length);
        try {
            byte version = buf.get();
            if (version != VERSION) {
                throw new SyncDecodeException("unsupported format version " + version + " (this side speaks " + VERSION
                        + "): the peer runs another release; upgrade both boxes to the same one. Until then no flow"
                        + " reaches the other box: a takeover resets every connection the standby has not got");
            }
            byte type = buf.get();
            long sentAt = buf.getLong();
            int count = Short.toUnsignedInt(buf.getShort());
            return switch (type) {
                case TYPE_RECORDS -> new SyncMessage.Records(sentAt, records(buf, count));
                case TYPE_DIGEST -> new SyncMessage.Digest(sentAt, digest(buf, count));
                case TYPE_RESYNC -> {
                    long[] f = fields(buf, 2, count);
                    yield new SyncMessage.ResyncRequest(sentAt, f[0], f[1], resync(buf, count));
                }
                case TYPE_RANGE_BEGIN -> {
                    long[] f = fields(buf, 2, count);
                    yield new SyncMessage.RangeBegin(sentAt, f[0], f[1], resync(buf, count));
                }
                case TYPE_RANGE_END -> {
                    long[] f = fields(buf, 3, count);
                    if (f[2] < 0) {
                        throw new SyncDecodeException("range end of " + f[2] + " records");
                    }
                    yield new SyncMessage.RangeEnd(sentAt, f[0], f[1], f[2], resync(buf, count));
                }
                case TYPE_ANNOUNCE -> new SyncMessage.Announcement(sentAt, announcement(buf, count));
                default -> throw new SyncDecodeException("unknown message type " + type);
            };
        } catch (BufferUnderflowException e) {
            throw new SyncDecodeException("truncated message");
        }
    }

    private static List<FlowRecord> records(ByteBuffer buf, int count) throws SyncDecodeException {
        if (buf.remaining() < count * RECORD_SIZE || buf.remaining() > count * RECORD_SIZE_IPV6) {
            throw new SyncDecodeException("records: " + buf.remaining() + " bytes of payload cannot hold " + count + " records");
        }
        List<FlowRecord> out = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            int protocol = Byte.toUnsignedInt(buf.get());
            int removed = Byte.toUnsignedInt(buf.get());
            int state = Byte.toUnsignedInt(buf.get());
            int flags = Byte.toUnsignedInt(buf.get());
            int transport = protocol & ~FlowRecord.IPV6;
            if (transport != 6 && transport != 17) {
                throw new SyncDecodeException("record " + i + ": protocol " + protocol + " is neither TCP nor UDP over IPv4 or IPv6");
            }
            if (removed > 1 || state > MAX_STATE_CODE) {
                throw new SyncDecodeException("record " + i + ": invalid removed flag " + removed + " or state " + state);
            }
            boolean v6 = (protocol & FlowRecord.IPV6) != 0;
            if (buf.remaining() < (v6 ? RECORD_SIZE_IPV6 : RECORD_SIZE) - 4) {
                throw new SyncDecodeException("record " + i + ": truncated");
            }
            FlowRecord.Ipv6Addresses addresses6 = null;
            int client = 0;
            int vip = 0;
            int backend = 0;
            int snat = 0;
            if (v6) {
                addresses6 = new FlowRecord.Ipv6Addresses(buf.getLong(), buf.getLong(), buf.getLong(), buf.getLong(),
                        buf.getLong(), buf.getLong(), buf.getLong(), buf.getLong());
            } else {
                client = buf.getInt();
                vip = buf.getInt();
                backend = buf.getInt();
                snat = buf.getInt();
            }
            int clientPort = Short.toUnsignedInt(buf.getShort());
            int vipPort = Short.toUnsignedInt(buf.getShort());
            int backendPort = Short.toUnsignedInt(buf.getShort());
            int snatPort = Short.toUnsignedInt(buf.getShort());
            long lastSeen = buf.getLong();
            long version = buf.getLong();
            out.add(new FlowRecord(protocol, client, clientPort, vip, vipPort, backend, backendPort, snat, snatPort,
                    state, flags, lastSeen, version, removed == 1, addresses6));
        }
        if (buf.hasRemaining()) {
            throw new SyncDecodeException("records: " + buf.remaining() + " bytes after the " + count + " records the header announces");
        }
        return Collections.unmodifiableList(out);
    }

    private static long[] digest(ByteBuffer buf, int count) throws SyncDecodeException {
        if (count != FlowDigest.RANGES) {
            throw new SyncDecodeException("digest of " + count + " ranges; expected " + FlowDigest.RANGES);
        }
        expect(buf, count * 8, "digest");
        long[] ranges = new long[count];
        for (int i = 0; i < count; i++) {
            ranges[i] = buf.getLong();
        }
        return ranges;
    }

    /** A range message's fixed fields, after checking the payload holds exactly them and {@code count} ranges. */
    private static long[] fields(ByteBuffer buf, int n, int count) throws SyncDecodeException {
        expect(buf, n * 8 + count, "range message");
        long[] f = new long[n];
        for (int i = 0; i < n; i++) {
            f[i] = buf.getLong();
        }
        return f;
    }

    private static List<Integer> resync(ByteBuffer buf, int count) throws SyncDecodeException {
        if (count > FlowDigest.RANGES) {
            throw new SyncDecodeException("resync of " + count + " ranges; there are " + FlowDigest.RANGES);
        }
        expect(buf, count, "resync request");
        List<Integer> ranges = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            ranges.add(Byte.toUnsignedInt(buf.get()));
        }
        return ranges;
    }

    private static byte[] announcement(ByteBuffer buf, int count) throws SyncDecodeException {
        if (count > MAX_ANNOUNCEMENT) {
            throw new SyncDecodeException("announcement of " + count + " bytes; at most " + MAX_ANNOUNCEMENT);
        }
        expect(buf, count, "announcement");
        byte[] payload = new byte[count];
        buf.get(payload);
        return payload;
    }

    private static void expect(ByteBuffer buf, int bytes, String what) throws SyncDecodeException {
        if (buf.remaining() != bytes) {
            throw new SyncDecodeException(what + ": " + buf.remaining() + " bytes of payload, the header announces " + bytes);
        }
    }
}
