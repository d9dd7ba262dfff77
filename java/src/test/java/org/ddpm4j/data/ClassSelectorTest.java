package org.ddpm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import org.ddpm4j.testing.TestData;
import org.junit.jupiter.api.Test;

class ClassSelectorTest {
    /** 200 synthetic images under CIFAR-10's class names, 20 of each class in a shuffled order. */
    static final ImageSet ALL = TestData.syntheticImages(200, 4);

    @Test
    void shipByNameIsLabel8WithEveryShipInOrder() {
        assertEquals(8, ClassSelector.resolve(ALL.classNames(), "ship"));
        assertEquals(8, ClassSelector.resolve(ALL.classNames(), "SHIP"));
        assertEquals(8, ClassSelector.resolve(ALL.classNames(), "8"));
        ImageSet ships = ClassSelector.select(ALL, "ship");
        assertEquals(20, ships.size());
        // The same images as in the full set, in order.
        byte[] a = new byte[3072], b = new byte[3072];
        int k = 0;
        for (int i = 0; i < ALL.size(); i++) {
            if (ALL.label(i) != 8) continue;
            assertEquals(8, ships.label(k));
            ALL.copyImage(i, a, 0);
            ships.copyImage(k++, b, 0);
            assertArrayEquals(a, b, "ship " + (k - 1) + " is image " + i);
        }
        assertEquals(20, k);
    }

    @Test
    void unknownClassListsTheClasses() {
        DataException e = assertThrows(DataException.class, () -> ClassSelector.resolve(ALL.classNames(), "shp"));
        assertTrue(e.getMessage().contains("unknown class 'shp'") && e.getMessage().contains("ship")
                && e.getMessage().contains("truck"), e.getMessage());
    }
}
