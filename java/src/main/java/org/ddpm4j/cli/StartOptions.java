package org.ddpm4j.cli;

import picocli.CommandLine.Option;

/**
 * How a run folder is used: --resume continues its checkpoint, --force starts over; at most one (an
 * exclusive picocli group, so giving both is a usage error naming them).
 */
final class StartOptions {
    @Option(names = "--resume", description = "Continue the run in --out from its checkpoint.")
    boolean resume;

    @Option(names = "--force", description = "Start over even if --out already holds a checkpoint.")
    boolean force;

    static boolean resume(StartOptions o) {
        return o != null && o.resume;
    }

    static boolean force(StartOptions o) {
        return o != null && o.force;
    }
}
