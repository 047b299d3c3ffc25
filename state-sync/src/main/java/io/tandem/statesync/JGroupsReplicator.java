package io.tandem.statesync;

import org.jgroups.Address;
import org.jgroups.BytesMessage;
import org.jgroups.JChannel;
import org.jgroups.MergeView;
import org.jgroups.Message;
import org.jgroups.Receiver;
import org.jgroups.View;
import org.jgroups.protocols.TCP;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * State sync over JGroups with the stack in {@code tandem-sync.xml}: changes go to the peer
 * in batches; a box that joins the group after its peer pulls the peer's whole table through
 * a streamed state transfer (length-prefixed record batches, never one array), then follows
 * the change stream. Records carry versions, so a change that crosses the transfer is
 * applied once in effect (last writer wins). Two boxes that each founded a group of their own
 * (a partition, or a box that started while its peer was unreachable) meet again through
 * MERGE3: then each sends the other its whole table ({@link SyncEngine#peerMerged}).
 */
public final class JGroupsReplicator implements FlowReplicator {
    public static final String GROUP = "tandem-sync";
    private static final Logger LOG = LoggerFactory.getLogger(JGroupsReplicator.class);
    private static final Pattern PLACEHOLDER = Pattern.compile("\\$\\{([a-z_]+)}");

    /**
     * @param peers "address[port]" of each peer, this box included or not (TCPPING's form)
     */
    public record Settings(String nodeName, String bindAddress, int bindPort, List<String> peers,
                           Path keystore, String keystorePassword, Duration failureTimeout,
                           Duration digestInterval, int queueCapacity, Duration stateTimeout) {
    }

    private final Settings settings;
    private SyncTls tls;
    private JChannel channel;
    private SyncEngine engine;
    private volatile View view;

    public JGroupsReplicator(Settings settings) {
        this.settings = settings;
    }

    /** The addresses of TCPPING's "address[port]" entries: the only ones the sync port accepts connections from. */
    static Set<InetAddress> peerAddresses(List<String> peers) throws UnknownHostException {
        Set<InetAddress> addresses = new HashSet<>();
        for (String peer : peers) {
            int bracket = peer.lastIndexOf('[');
            addresses.add(InetAddress.getByName(bracket < 0 ? peer : peer.substring(0, bracket)));
        }
        return addresses;
    }

    @Override
    public void start(FlowStore store) throws Exception {
        tls = SyncTls.of(SyncKeys.load(settings.keystore(), settings.keystorePassword()), settings.keystorePassword());
        channel = new JChannel(new ByteArrayInputStream(stackXml().getBytes(StandardCharsets.UTF_8)));
        // Before connect: TCP opens its sockets when the channel connects (TCP.start).
        TCP tcp = channel.getProtocolStack().findProtocol(TCP.class);
        tcp.setSocketFactory(new SyncSockets(tls, peerAddresses(settings.peers())));
        channel.name(settings.nodeName());
        channel.setDiscardOwnMessages(true);
        engine = new SyncEngine(new Transport(), store, settings.queueCapacity(), settings.digestInterval(), settings.nodeName());
        channel.setReceiver(new Receiver() {
            @Override
            public void receive(Message msg) {
                engine.receive(msg.getArray(), msg.getOffset(), msg.getLength());
            }

            @Override
            public void viewAccepted(View next) {
                View previous = view;
                view = next;
                if (engine != null && next instanceof MergeView && next.size() > 1) {
                    engine.peerMerged();
                } else if (engine != null) {
                    engine.peerChanged();
                }
                if (next instanceof MergeView merged) {
                    LOG.info("sync group: {} (merged from {})", next.getMembers(), merged.getSubgroups());
                } else if (previous != null && previous.size() > next.size()) {
                    LOG.warn("sync: peer left the group: {} (this box keeps its table)", next.getMembers());
                } else {
                    LOG.info("sync group: {}", next.getMembers());
                }
            }

            @Override
            public void getState(OutputStream out) throws Exception {
                streamTable(store, out);
            }

            @Override
            public void setState(InputStream in) throws Exception {
                receiveTable(store, in);
            }
        });
        channel.connect(GROUP);
        view = channel.getView();
        if (view.size() > 1) {
            channel.getState(null, settings.stateTimeout().toMillis());
        } else {
            LOG.warn("sync: no peer admitted yet (peers {}): it is down, unreachable, or does not hold this pair's key "
                    + "(a peer with another key can never join: its TLS handshake fails)", settings.peers());
        }
        engine.start();
    }

    /** The stack with every placeholder filled from the settings; an unknown one is an error. */
    String stackXml() throws IOException {
        String template;
        try (InputStream in = JGroupsReplicator.class.getResourceAsStream("/tandem-sync.xml")) {
            template = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        Map<String, String> values = Map.of(
                "bind_address", settings.bindAddress(),
                "bind_port", Integer.toString(settings.bindPort()),
                "initial_hosts", String.join(",", settings.peers()),
                "failure_timeout", settings.failureTimeout().toMillis() + "ms",
                "failure_interval", Math.max(100, settings.failureTimeout().toMillis() / 4) + "ms");
        Matcher m = PLACEHOLDER.matcher(template);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String value = values.get(m.group(1));
            if (value == null) {
                throw new IllegalStateException("tandem-sync.xml: no value for ${" + m.group(1) + "}");
            }
            m.appendReplacement(out, Matcher.quoteReplacement(xmlEscape(value)));
        }
        m.appendTail(out);
        return out.toString();
    }

    private static String xmlEscape(String value) {
        return value.replace("&", "&amp;").replace("\"", "&quot;").replace("<", "&lt;");
    }

    private static void streamTable(FlowStore store, OutputStream out) throws IOException {
        DataOutputStream data = new DataOutputStream(out);
        List<FlowRecord> chunk = new ArrayList<>(SyncCodec.MAX_BATCH);
        long now = System.currentTimeMillis();
        try {
            store.forEach(record -> {
                chunk.add(record);
                if (chunk.size() == SyncCodec.MAX_BATCH) {
                    writeChunk(data, now, chunk);
                }
            });
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        writeChunk(data, now, chunk);
        data.writeInt(0);
        data.flush();
    }

    private static void writeChunk(DataOutputStream data, long now, List<FlowRecord> chunk) {
        if (chunk.isEmpty()) {
            return;
        }
        byte[] bytes = SyncCodec.encodeRecords(now, chunk);
        try {
            data.writeInt(bytes.length);
            data.write(bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        chunk.clear();
    }

    private void receiveTable(FlowStore store, InputStream in) throws IOException, SyncDecodeException {
        long started = System.nanoTime();
        DataInputStream data = new DataInputStream(in);
        long records = 0;
        for (int length = data.readInt(); length != 0; length = data.readInt()) {
            if (length < 0 || length > SyncCodec.HEADER + 0xFFFF * SyncCodec.RECORD_SIZE_IPV6) {
                throw new SyncDecodeException("state transfer: batch of " + length + " bytes");
            }
            byte[] bytes = data.readNBytes(length);
            if (!(SyncCodec.decode(bytes, 0, bytes.length) instanceof SyncMessage.Records batch)) {
                throw new SyncDecodeException("state transfer: not a record batch");
            }
            batch.records().forEach(store::apply);
            records += batch.records().size();
        }
        long millis = (System.nanoTime() - started) / 1_000_000;
        engine.noteFullResync(records, millis);
        LOG.info("sync: full table received from the peer: {} flows in {} ms", records, millis);
    }

    @Override
    public boolean publish(FlowRecord record) {
        return engine.publish(record, false);
    }

    @Override
    public boolean publishCreated(FlowRecord record) {
        return engine.publish(record, true);
    }

    /** Whether this box is the source of truth (the active); the standby is a replica. */
    @Override
    public void setSource(boolean source) {
        engine.setSource(source);
    }

    @Override
    public void announce(byte[] payload) {
        engine.announce(payload);
    }

    @Override
    public PeerAnnouncement peerAnnouncement() {
        return engine.peerAnnouncement();
    }

    @Override
    public long peerClockAheadMillis() {
        return engine.peerClockAheadMillis();
    }

    /** The channel (for tests that cut the group apart). */
    JChannel channel() {
        return channel;
    }

    /** The sync port this box listens on. */
    int port() {
        return settings.bindPort();
    }

    /** The group's view as JGroups names it, its id included: a join, a leave or an eviction changes it. */
    String viewId() {
        View v = view;
        return v == null ? "none" : v.getViewId() + " " + v.getMembers();
    }

    @Override
    public SyncStatus status() {
        return engine.status().withPeersRefused(tls.rejected());
    }

    @Override
    public void close() {
        if (engine != null) {
            engine.close();
        }
        if (channel != null) {
            channel.close();
        }
    }

    private final class Transport implements SyncEngine.Transport {
        @Override
        public void send(byte[] message) throws Exception {
            // DONT_LOOPBACK: the transport would otherwise pass every message we send back up
            // our own stack (ordering, decryption) only for the channel to discard it (a JFR
            // profile of the active under new connections showed that work).
            channel.send(new BytesMessage(null, message).setFlag(Message.TransientFlag.DONT_LOOPBACK));
        }

        @Override
        public boolean peerConnected() {
            View v = view;
            return v != null && v.size() > 1;
        }

        @Override
        public String peer() {
            View v = view;
            if (v == null) {
                return null;
            }
            Address self = channel.getAddress();
            return v.getMembers().stream().filter(a -> !a.equals(self)).map(Object::toString).findFirst().orElse(null);
        }
    }
}
