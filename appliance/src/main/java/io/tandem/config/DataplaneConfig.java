package io.tandem.config;

import java.time.Duration;
import java.util.List;

/**
 * Where tandemd sits in the box's network: its TUN device, the interfaces facing clients
 * (front) and backends (back), and the routing table and rule priorities it owns.
 * {@code offload} (default true): the TUN device exchanges whole TCP/UDP super-packets with
 * the kernel (virtio-net header, GSO, checksum offload) instead of one syscall per 1.5 KB.
 * {@code io} (default epoll): how the event loops read and write the TUN queues — readiness
 * and one syscall per packet each way (epoll), or batches of reads and writes submitted
 * through io_uring (see {@link IoEngine}). {@code fast_path} (default auto, see
 * {@link FastPathMode}): flows created and forwarded in the kernel by the BPF program; its flow map
 * is pinned in {@code fast_path_pin_dir} (default /sys/fs/bpf/tandem, on a bpffs), so a restarted
 * tandemd adopts the flows the kernel kept forwarding meanwhile. {@code tun_queue_length} (default
 * {@value #DEFAULT_TUN_QUEUE_LENGTH}): packets the kernel holds per TUN queue for the engine to read;
 * the kernel's own default of 500 overflowed in bursts of new connections (2,000 a second with
 * 10,000 connections open: thousands of SYNs and SYN-ACKs dropped there, each a 1 s retransmission).
 */
public record DataplaneConfig(String tunName, Integer queues, String frontInterface, String backInterface,
                              Integer routeTable, Integer rulePriority, Duration statsInterval, Boolean offload,
                              IoEngine io, FastPathMode fastPath, String fastPathPinDir, FastPathAttach fastPathAttach,
                              Integer tunQueueLength) {
    public DataplaneConfig {
        tunName = tunName == null ? "tandem0" : tunName;
        queues = queues == null ? 0 : queues;
        routeTable = routeTable == null ? 100 : routeTable;
        rulePriority = rulePriority == null ? 100 : rulePriority;
        statsInterval = statsInterval == null ? Duration.ofSeconds(60) : statsInterval;
        offload = offload == null ? Boolean.TRUE : offload;
        io = io == null ? IoEngine.EPOLL : io;
        fastPath = fastPath == null ? FastPathMode.AUTO : fastPath;
        fastPathPinDir = fastPathPinDir == null ? "/sys/fs/bpf/tandem" : fastPathPinDir;
        fastPathAttach = fastPathAttach == null ? FastPathAttach.AUTO : fastPathAttach;
        tunQueueLength = tunQueueLength == null ? DEFAULT_TUN_QUEUE_LENGTH : tunQueueLength;
    }

    /**
     * Packets per TUN queue: at 12,000 packets a second into the engine (new connections' handshakes),
     * 0.8 s of a stalled engine thread on a busy box, and at most ~10 MB of small packets per queue.
     */
    public static final int DEFAULT_TUN_QUEUE_LENGTH = 10_000;
    /** The most {@code tun_queue_length} may be: beyond it a backlog only adds delay. */
    public static final int MAX_TUN_QUEUE_LENGTH = 1_000_000;

    /** The fast path's flow map's name in {@code fast_path_pin_dir}: tandemd pins it, keepalived's check looks for it. */
    public static final String FAST_PATH_MAP = "flows4";
    /** The IPv6 flow map's name beside it. */
    public static final String FAST_PATH_MAP6 = "flows6";

    /** Where the fast path's flow map is pinned. */
    public String fastPathMapPin() {
        return fastPathPinDir + "/" + FAST_PATH_MAP;
    }

    /** Queues to open: the configured count, or one per core for 0. */
    public int effectiveQueues() {
        return queues > 0 ? queues : Runtime.getRuntime().availableProcessors();
    }

    void validate(String path, List<String> errors) {
        if (!tunName.matches("[A-Za-z0-9_.-]{1,15}")) {
            errors.add(path + ".tun_name: '" + tunName + "' is not an interface name (1-15 letters, digits, '_', '.', '-')");
        }
        if (queues < 0 || queues > 256) {
            errors.add(path + ".queues: " + queues + " is not within 0-256 (0: one per core)");
        }
        interfaceName(frontInterface, path + ".front_interface", errors);
        interfaceName(backInterface, path + ".back_interface", errors);
        if (routeTable < 1 || routeTable > 0x7FFFFFFF || routeTable == 253 || routeTable == 254 || routeTable == 255) {
            errors.add(path + ".route_table: " + routeTable + " is not a free table id (1-2^31, not 253-255: default, main, local)");
        }
        if (rulePriority < 1 || rulePriority > 31000) {
            errors.add(path + ".rule_priority: " + rulePriority + " is not within 1-31000 (rules must come before the local table, moved to 32000)");
        }
        ConfigChecks.positive(statsInterval, path + ".stats_interval", errors);
        if (tunQueueLength < 64 || tunQueueLength > MAX_TUN_QUEUE_LENGTH) {
            errors.add(path + ".tun_queue_length: " + tunQueueLength + " is not within 64-" + MAX_TUN_QUEUE_LENGTH + " packets");
        }
    }

    private static void interfaceName(String name, String path, List<String> errors) {
        if (name == null) {
            errors.add(path + ": required");
        } else if (!name.matches("[A-Za-z0-9_.@-]{1,15}")) {
            errors.add(path + ": '" + name + "' is not an interface name");
        }
    }
}
