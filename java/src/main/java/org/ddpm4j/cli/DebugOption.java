package org.ddpm4j.cli;

import picocli.CommandLine.Option;

/**
 * The one option of the commands that only read and write files on the host (export, import): they
 * run no model, so they take no --device, --threads, --precision or --seed.
 */
public final class DebugOption {
    // Main reads --debug from the raw arguments (it must work for parse errors too); this declares it.
    @Option(names = "--debug", description = "Show stack traces on errors; on CUDA, log each convolution's algorithm choice (the launcher sets DDPM_CUDA_VERBOSE=1).")
    boolean debug;
}
