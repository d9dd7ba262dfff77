package org.ddpm4j.api;

/**
 * Something that should not happen: a bug in ddpm4j or a failure inside the native code. The
 * cause holds the original exception; please report it with the stack trace.
 */
public final class InternalException extends DdpmException {
    public InternalException(String message, Throwable cause) {
        super(message, cause);
    }
}
