package io.tandem.statesync;

/**
 * The peer's latest announcement as received: its payload (the layer above decides what it
 * means) and when it arrived here, so a reader can tell a fresh one from a stale one.
 */
public record PeerAnnouncement(byte[] payload, long receivedAtMillis) {
}
