package io.tandem.config;

import com.fasterxml.jackson.annotation.JsonProperty;

/** {@code dataplane.fast_path_attach}: how the fast path's program is attached to the interfaces. */
public enum FastPathAttach {
    /** tcx where the kernel has it (Linux 6.6+), a tc clsact filter elsewhere (RHEL 9's 5.14). */
    @JsonProperty("auto") AUTO,
    /** tcx only: a BPF link, pinned beside the map. */
    @JsonProperty("tcx") TCX,
    /** A tc clsact qdisc with a direct-action filter. */
    @JsonProperty("tc") TC
}
