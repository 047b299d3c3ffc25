/**
 * The routing that steers service traffic into tandemd's TUN device (DESIGN.md §1): policy
 * rules with {@code ipproto} selectors for each VIP (from the front interface) and SNAT
 * address (from the back), a route table whose default route is the TUN device, the local
 * table moved behind those rules, and the sysctls. Made at start, undone at stop,
 * idempotent, and never touching a rule that is not its own.
 */
package io.tandem.dataplane.netsetup;
