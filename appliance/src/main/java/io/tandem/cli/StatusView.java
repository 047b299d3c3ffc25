package io.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;

import java.time.Duration;
import java.util.List;

/** Renders tandemd's status answer as the operator's table: both boxes side by side, then the verdict. */
final class StatusView {
    private StatusView() {
    }

    static String render(JsonNode status, long nowMillis) {
        JsonNode self = status.path("self");
        JsonNode peer = status.path("peer");
        JsonNode sync = status.path("sync");
        boolean hasPeer = !peer.isMissingNode() && !peer.isNull();
        boolean inSync = status.path("not_in_sync").isEmpty();
        StringBuilder b = new StringBuilder();
        String command = self.path("role").asText().equals("ACTIVE") ? "failover" : "takeover";
        JsonNode verdict = status.path(command);
        b.append(inSync ? "IN SYNC" : "NOT IN SYNC");
        if (verdict.path("allowed").asBoolean()) {
            b.append(" — safe to ").append(command.equals("failover") ? "fail over" : "take over");
        }
        b.append('\n');
        for (JsonNode reason : status.path("not_in_sync")) {
            b.append("  - ").append(reason.asText()).append('\n');
        }
        b.append('\n');
        String peerName = hasPeer ? peer.path("name").asText() + (status.path("peer_age_millis").asLong() > 2000 ? " (stale)" : "")
                : "peer (no word)";
        row(b, "", self.path("name").asText() + " (this box)", peerName);
        row(b, "role", self.path("role").asText(), text(peer, "role"));
        row(b, "vrrp", self.path("vrrp").asText(), text(peer, "vrrp"));
        row(b, "vrrp priority", self.path("priority").asText(), text(peer, "priority"));
        row(b, "up", age(nowMillis - self.path("started_at_millis").asLong()),
                hasPeer ? age(nowMillis - peer.path("started_at_millis").asLong()) : "-");
        row(b, "flows", self.path("flows").asText(), text(peer, "flows"));
        row(b, "replica lag", lag(self), hasPeer ? lag(peer) : "-");
        row(b, "override", self.path("override").asText(), text(peer, "override"));
        JsonNode pref = self.path("preference");
        b.append('\n');
        if (!pref.path("preferred").isNull() && !pref.path("preferred").isMissingNode()) {
            b.append("preferred active: ").append(pref.path("preferred").asText()).append(" (").append(pref.path("by").asText())
                    .append(")\n");
        }
        if (!sync.isMissingNode() && !sync.isNull()) {
            b.append("sync link: ").append(sync.path("peer_connected").asBoolean() ? "connected" : "NOT connected")
                    .append(", digests ").append(sync.path("digests_equal").isNull() ? "not compared"
                            : sync.path("digests_equal").asBoolean() ? "equal" : "DIFFER")
                    .append(", sent ").append(sync.path("records_sent").asLong())
                    .append(", received ").append(sync.path("records_received").asLong())
                    .append(", queued ").append(sync.path("queue_depth").asLong())
                    .append(", range resyncs ").append(sync.path("range_resyncs").asLong()).append('\n');
            JsonNode full = sync.path("last_full_resync");
            if (!full.isNull() && !full.isMissingNode()) {
                b.append("last full resync: ").append(full.path("records").asLong()).append(" flows in ")
                        .append(full.path("millis").asLong()).append(" ms, ").append(age(nowMillis - full.path("finished_at_millis").asLong()))
                        .append(" ago\n");
            }
        }
        b.append(command).append(": ").append(verdict.path("allowed").asBoolean() ? "allowed" : "refused");
        if (!verdict.path("allowed").asBoolean()) {
            List<String> reasons = verdict.path("reasons").valueStream().map(JsonNode::asText).toList();
            b.append(" (").append(String.join("; ", reasons)).append(')');
        }
        return b.append('\n').toString();
    }

    private static String text(JsonNode node, String field) {
        JsonNode v = node.path(field);
        return v.isMissingNode() || v.isNull() ? "-" : v.asText();
    }

    private static String lag(JsonNode node) {
        return node.path("role").asText().equals("ACTIVE") ? "-" : node.path("lag_millis").asLong() + " ms";
    }

    private static void row(StringBuilder b, String label, String self, String peer) {
        b.append(String.format("%-17s %-24s %s%n", label, self, peer));
    }

    static String age(long millis) {
        Duration d = Duration.ofMillis(Math.max(0, millis));
        if (d.toHours() > 0) {
            return d.toHours() + "h" + d.toMinutesPart() + "m";
        }
        if (d.toMinutes() > 0) {
            return d.toMinutes() + "m" + d.toSecondsPart() + "s";
        }
        return d.toSeconds() + "s";
    }
}
