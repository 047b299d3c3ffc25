package io.tandem.config;

import com.fasterxml.jackson.annotation.JsonProperty;

/** How the data plane's event loops move packets between the TUN queues and the engine. */
public enum IoEngine {
    /** Readiness from epoll, then one read and one write syscall per packet (batched per wakeup). */
    @JsonProperty("epoll") EPOLL,
    /**
     * Reads and writes submitted as io_uring operations: many per {@code io_uring_enter}, their
     * completions reaped in batches (Linux 5.6+; refused at start where the kernel forbids it).
     */
    @JsonProperty("io_uring") IO_URING
}
