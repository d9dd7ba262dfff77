package org.ddpm4j.api;

/**
 * What the facade throws, in one of four kinds a caller can act on: {@link InvalidInputException}
 * (bad data, files or values: fix the input), {@link DeviceUnavailableException} (the asked device
 * cannot run here, or has not the memory), {@link DivergedException} (training produced non-finite
 * numbers) and {@link InternalException} (anything else: a bug, native failures included). The
 * message is one line that names the file, the setting or the value and what was expected; the
 * cause, when there is one, is the internal exception it came from.
 */
public abstract sealed class DdpmException extends RuntimeException
        permits InvalidInputException, DeviceUnavailableException, DivergedException, InternalException {
    DdpmException(String message, Throwable cause) {
        super(message, cause);
    }
}
