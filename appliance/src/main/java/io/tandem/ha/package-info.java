/**
 * High availability with keepalived (VRRPv3, RFC 5798) as the failure detector and owner of
 * the floating addresses: the configuration tandemd renders for it, and (next) the role
 * tandemd learns from it and the priority it steers through the track file.
 */
package io.tandem.ha;
