/**
 * The Linux TUN device through Java's FFM API ({@code java.lang.foreign}: no JNI, no JNA),
 * and its queues as Netty 4.2 {@code EpollIoHandle}s on the data plane's event loops.
 * See the kernel's Documentation/networking/tuntap.rst.
 */
package io.tandem.dataplane.tun;
