// Templates: placeholders filled once, braces, values of the wrong kind, and runaway sizes.
#include "sms/template.h"

#include <gtest/gtest.h>

using nlohmann::json;
using sms_otp::sms::render_template;

TEST(Template, FillsPlaceholders) {
    auto r = render_template("Hi {name}, booking {ref} for {n} guests: {ok}.",
                             json{{"name", "Ana"}, {"ref", "B-1"}, {"n", 2}, {"ok", true}, {"extra", "unused"}});
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.text, "Hi Ana, booking B-1 for 2 guests: true.");
}

TEST(Template, NumbersAsJsonWritesThem) {
    EXPECT_EQ(render_template("{a} {b}", json{{"a", 99.5}, {"b", -3}}).text, "99.5 -3");
}

TEST(Template, DoubledBracesAreLiteral) {
    EXPECT_EQ(render_template("{{code}} and }} and {{", json::object()).text, "{code} and } and {");
}

TEST(Template, ValuesAreNotFilledAgain) {
    auto r = render_template("{x}", json{{"x", "{y}"}, {"y", "secret"}});
    EXPECT_EQ(r.text, "{y}");
}

TEST(Template, BracesThatOpenNoPlaceholderStay) {
    EXPECT_EQ(render_template("{not a name} {1x} {} {x", json{{"x", "v"}}).text, "{not a name} {1x} {} {x");
    std::string long_name(65, 'a');
    EXPECT_EQ(render_template("{" + long_name + "}", json::object()).text, "{" + long_name + "}");
    std::string max_name(64, 'a');
    EXPECT_EQ(render_template("{" + max_name + "}", json::object()).error, "template_data_missing");
}

TEST(Template, MissingDataIsAnError) {
    auto r = render_template("Hi {name}, {ref}", json{{"name", "Ana"}});
    EXPECT_EQ(r.error, "template_data_missing");
    EXPECT_EQ(r.placeholder, "ref");
    EXPECT_EQ(render_template("Hi {name}", json()).error, "template_data_missing");
    EXPECT_EQ(render_template("Hi {name}", json::array({"Ana"})).error, "template_data_missing");
}

TEST(Template, ValuesMustBeScalars) {
    for (const json &v : {json(nullptr), json::array({1}), json{{"a", 1}}}) {
        auto r = render_template("{v}", json{{"v", v}});
        EXPECT_EQ(r.error, "invalid_template_data");
        EXPECT_EQ(r.placeholder, "v");
    }
}

TEST(Template, NoPlaceholdersNeedsNoData) {
    EXPECT_EQ(render_template("Plain text", json()).text, "Plain text");
}

TEST(Template, RunawaySizeStops) {
    std::string body;
    for (int i = 0; i < 100; i++) body += "{v}";
    auto r = render_template(body, json{{"v", std::string(1000, 'x')}});
    EXPECT_EQ(r.error, "message_too_long");
    EXPECT_EQ(r.text, "");
}
