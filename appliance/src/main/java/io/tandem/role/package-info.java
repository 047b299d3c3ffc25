/**
 * This box's role in the pair ({@link io.tandem.role.Role}) and the one signal that it changed
 * ({@link io.tandem.role.RoleListener}): the vocabulary that {@code ha} (which decides the
 * role), {@code sync} (which follows it) and {@code config} (the role at start) share.
 * Depends on nothing.
 */
package io.tandem.role;
