// Rank agreement of two methods' scores, against values worked out by hand (Spearman's textbook formula
// 1 - 6 sum d^2 / (n (n^2 - 1)) where there are no ties; Pearson's correlation of mean ranks where there are).
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "cscrub/discover/rank_agreement.hpp"
#include "cscrub/error.hpp"

using cscrub::discover::common_top;
using cscrub::discover::spearman_of_magnitudes;

TEST_CASE("Spearman's rho is read on |score|", "[rank_agreement]") {
  const std::vector<double> a{1, 2, 3, 4}, reversed{-4, 3, 2, -1};
  CHECK(spearman_of_magnitudes(a, a) == Approx(1.0));
  CHECK(spearman_of_magnitudes(a, reversed) == Approx(-1.0));  // the signs do not matter, the magnitudes reverse
  // |a| ranks 1 4 3 5 2 against 1 2 3 4 5: d = 0 2 0 1 -3, sum d^2 = 14, rho = 1 - 6 * 14 / (5 * 24) = 0.3.
  CHECK(spearman_of_magnitudes(std::vector<double>{0.1, -0.5, 0.3, 0.9, 0.2}, std::vector<double>{1, 2, 3, 4, 5}) ==
        Approx(0.3));
}

TEST_CASE("Spearman's rho gives tied scores their mean rank", "[rank_agreement]") {
  // Ranks 1.5 1.5 3 4 against 1 2 3 4: sum of products of deviations 4.5, of squares 4.5 and 5: rho = sqrt(0.9).
  CHECK(spearman_of_magnitudes(std::vector<double>{0, -0.0, 1, 2}, std::vector<double>{1, 2, 3, 4}) ==
        Approx(std::sqrt(0.9)));
  // A method that scores every edge alike ranks nothing.
  CHECK(std::isnan(spearman_of_magnitudes(std::vector<double>{2, -2, 2}, std::vector<double>{1, 2, 3})));
  CHECK(std::isnan(spearman_of_magnitudes(std::vector<double>{1}, std::vector<double>{1})));
  CHECK_THROWS_AS(spearman_of_magnitudes(std::vector<double>{1, 2}, std::vector<double>{1, 2, 3}), cscrub::Error);
}

TEST_CASE("common_top counts the strongest edges two methods share", "[rank_agreement]") {
  const std::vector<double> a{5, -4, 3, 2, 1}, b{1, 2, 3, -4, 5};
  CHECK(common_top(a, b, 2) == 0);  // {0, 1} and {4, 3}
  CHECK(common_top(a, b, 3) == 1);  // edge 2
  CHECK(common_top(a, b, 5) == 5);
  CHECK(common_top(a, b, 50) == 5);  // clamped
  CHECK(common_top(a, a, 0) == 0);
  // Ties: the lower index first.
  CHECK(common_top(std::vector<double>{1, 1, 1}, std::vector<double>{0, 0, 1}, 1) == 0);
  CHECK(common_top(std::vector<double>{1, 1, 1}, std::vector<double>{1, 0, 0}, 1) == 1);
}
