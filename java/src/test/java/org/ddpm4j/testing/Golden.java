package org.ddpm4j.testing;

import java.net.URISyntaxException;
import java.nio.file.Path;

/** The golden files made by scripts/make_safetensors_golden.py (PyTorch, the notebook's UNet). */
public final class Golden {
    private Golden() {}

    public static Path weights() {
        return resource("/golden/seed_unet_tiny.safetensors");
    }

    /** x, t and eval_out = model.eval()(x, t). */
    public static Path io() {
        return resource("/golden/seed_unet_tiny_io.safetensors");
    }

    private static Path resource(String name) {
        try {
            return Path.of(Golden.class.getResource(name).toURI());
        } catch (URISyntaxException | NullPointerException e) {
            throw new IllegalStateException("missing test resource " + name, e);
        }
    }
}
