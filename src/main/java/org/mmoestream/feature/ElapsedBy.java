package org.mmoestream.feature;

import java.util.List;

/**
 * The classes an elapsed feature's hours are crossed with ({@code features.sparse[].elapsed_by}):
 * feature {@code feature}'s value cut at {@code bounds}. The elapsed feature then learns the hours
 * an example waited apart for each class, as {@code <hours>x<class>}, and is served as {@code
 * <bias_serving value>x<class>}: where what a delayed example teaches differs between classes (it
 * tells a young item's row more than an old one's), one offset per hour serves one class high and
 * another low (README, Fresh labels).
 *
 * @param feature the name of a feature of the spec whose value is a number (the item's age in hours)
 * @param bounds the classes' lower bounds, strictly increasing: a value below the first is class 0,
 *     one at or above {@code bounds[i]} and below the next is class {@code i + 1}
 */
public record ElapsedBy(String feature, List<Double> bounds) {

    public ElapsedBy {
        bounds = List.copyOf(bounds);
    }

    /** The class of {@code value}: how many bounds are at or below it. */
    public int classOf(double value) {
        int c = 0;
        while (c < bounds.size() && value >= bounds.get(c)) {
            c++;
        }
        return c;
    }
}
