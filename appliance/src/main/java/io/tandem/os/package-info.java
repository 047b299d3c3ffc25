/**
 * Running the operating system's commands ({@code ip}, {@code sysctl}) with their output
 * captured and their failures explained: used by the data plane's routing and by BGP mode's
 * announcements alike, so it belongs to neither. Depends on nothing.
 */
package io.tandem.os;
