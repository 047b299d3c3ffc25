/**
 * Where new flows go: services (VIP, port, protocol) with their backends, and the
 * schedulers that pick a backend — Maglev consistent hashing (Eisenbud et al., "Maglev: A
 * Fast and Reliable Software Network Load Balancer", NSDI 2016, §3.4) and weighted round
 * robin. Tables are built off the hot path and published immutable.
 */
package io.tandem.balancer;
