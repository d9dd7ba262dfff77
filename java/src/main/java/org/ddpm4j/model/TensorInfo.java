package org.ddpm4j.model;

import java.util.Arrays;

/**
 * One named view into a flat native buffer.
 *
 * @param name PyTorch state_dict name of the seed UNet, e.g. {@code down1.conv.conv.0.weight}
 * @param offset first element, in floats
 * @param shape dimensions
 */
public record TensorInfo(String name, long offset, long[] shape) {

    public long size() {
        long s = 1;
        for (long d : shape) s *= d;
        return s;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && t.name.equals(name) && t.offset == offset && Arrays.equals(t.shape, shape);
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + Arrays.toString(shape) + "@" + offset;
    }
}
