// The intent-routing sample: customer-support requests, each labelled with one of 20 intents
// and its category, with a canned reply.
#include "datasets/sample_common.h"
#include "datasets/sample_generators.h"

#include <algorithm>
#include <cctype>

namespace swarm::samples {

using nlohmann::json;

namespace {


struct Intent {
    std::string name, category;
    std::vector<std::string> asks;        // core phrasings, with {order} {product} {item} slots
    std::vector<std::string> replies;
};

const std::vector<Intent>& intents() {
    static const std::vector<Intent> v = {
        {"cancel_order", "ORDER",
         {"I want to cancel my order {order}", "please cancel order {order}", "how do I cancel the {product} I ordered",
          "can you cancel my purchase {order}", "I need to cancel an order I placed yesterday",
          "cancel order {order} for me", "I changed my mind about the {product}, cancel it",
          "is it still possible to cancel order {order}"},
         {"I understand you want to cancel order {{Order Number}}. Go to Your Orders, select the order and choose "
          "Cancel; if it has not shipped yet the cancellation is immediate.",
          "I'm sorry to hear you no longer need it. You can cancel {{Order Number}} from the order page while it is "
          "still being processed."}},
        {"change_order", "ORDER",
         {"I need to change something in order {order}", "can I add a {product} to my order {order}",
          "how do I modify my order", "I want to swap the {product} in my order for another colour",
          "please update the quantity in order {order}", "I ordered the wrong size, can I change it"},
         {"You can edit order {{Order Number}} from Your Orders until it ships: choose Modify and update the items.",
          "I can help with that. Changes are possible until the order is packed; open the order and select Edit "
          "Items."}},
        {"place_order", "ORDER",
         {"I want to buy a {product}", "how do I place an order for the {product}", "I'd like to order {n} {product}s",
          "can you help me purchase a {product}", "I want to make a new order", "where do I go to order a {product}"},
         {"Happy to help you order! Add the {{Product}} to your cart, go to Checkout and confirm your payment "
          "and delivery details."}},
        {"track_order", "ORDER",
         {"where is my order {order}", "track order {order}", "has my {product} shipped yet",
          "what's the status of order {order}", "my package {order} hasn't arrived, where is it",
          "can you tell me when order {order} will get here", "I can't find tracking info for my {product}"},
         {"You can follow order {{Order Number}} under Your Orders > Track Package; the page shows the carrier and "
          "the latest scan."}},
        {"get_refund", "REFUND",
         {"I want a refund for order {order}", "can I get my money back for the {product}",
          "please refund my purchase {order}", "the {product} arrived broken, I want a refund",
          "how do I request a refund", "refund order {order} please"},
         {"I'm sorry about the trouble with {{Order Number}}. Request a refund from Your Orders > Return or Refund; "
          "it is processed within 5 business days of approval."}},
        {"track_refund", "REFUND",
         {"where is my refund for order {order}", "I haven't received my refund yet",
          "what's the status of my refund", "when will the refund for the {product} reach my account",
          "check my refund for {order}"},
         {"Refunds show under Your Account > Refunds. Once approved, the money reaches your bank within 3 to 7 "
          "business days."}},
        {"check_refund_policy", "REFUND",
         {"what is your refund policy", "can I return the {product} after 30 days",
          "do you refund shipping costs", "how many days do I have to ask for a refund",
          "are sale items refundable"},
         {"Our policy allows refunds within 30 days of delivery for unused items; shipping costs are refunded when "
          "the item was faulty."}},
        {"payment_issue", "PAYMENT",
         {"my payment didn't go through", "I was charged twice for order {order}", "my card keeps getting declined",
          "there's a problem with my payment for the {product}", "why did my payment fail",
          "I paid but the order {order} says unpaid"},
         {"I'm sorry about the payment trouble. Please check the card details and limit; if you were charged twice "
          "for {{Order Number}}, the duplicate is released automatically within 3 days."}},
        {"check_payment_methods", "PAYMENT",
         {"what payment methods do you accept", "can I pay with PayPal", "do you take Apple Pay",
          "is paying by bank transfer possible", "can I pay in instalments for the {product}"},
         {"We accept credit and debit cards, PayPal, Apple Pay, Google Pay and bank transfer; instalments are "
          "available at checkout for orders over {{Amount}}."}},
        {"get_invoice", "INVOICE",
         {"I need an invoice for order {order}", "can you send me the invoice for my {product}",
          "where can I download my invoice", "please email me the bill for {order}",
          "I need a VAT invoice for my company"},
         {"You can download the invoice for {{Order Number}} from Your Orders > Invoice; it is also emailed when "
          "the order ships."}},
        {"change_shipping_address", "SHIPPING",
         {"I need to change the delivery address for order {order}", "can I ship the {product} to a different address",
          "I moved, please update my shipping address", "wrong address on order {order}",
          "how do I edit the address my package goes to"},
         {"You can change the address of {{Order Number}} under Your Orders > Change Address as long as it has not "
          "been handed to the carrier."}},
        {"delivery_options", "DELIVERY",
         {"what shipping options do you have", "do you offer express delivery", "can I pick up the {product} in store",
          "do you deliver on weekends", "is next-day delivery available for the {product}"},
         {"We offer standard (3-5 days), express (next day) and free in-store pickup; weekend delivery is available "
          "in some areas."}},
        {"delivery_period", "DELIVERY",
         {"how long does delivery take", "when will the {product} arrive if I order today",
          "how many days until order {order} is delivered", "what is the delivery time to my city",
          "will it arrive before the weekend"},
         {"Standard delivery takes 3 to 5 business days and express arrives the next business day; the exact date "
          "is shown at checkout."}},
        {"create_account", "ACCOUNT",
         {"I want to open an account", "how do I sign up", "can you help me create a new account",
          "I'd like to register", "how can I make a {account} account"},
         {"Welcome! Choose Sign Up at the top of the page, enter your email and a password, and confirm the link we "
          "send you."}},
        {"delete_account", "ACCOUNT",
         {"please delete my account", "I want to close my {account} account", "how do I remove my profile",
          "remove all my data and close the account", "I don't want an account anymore"},
         {"I'm sorry to see you go. Go to Settings > Privacy > Close Account; your data is erased within 30 days."}},
        {"recover_password", "ACCOUNT",
         {"I forgot my password", "I can't log in to my account", "how do I reset my password",
          "my password isn't working", "help me recover access to my {account} account"},
         {"No problem: choose Forgot Password on the sign-in page and follow the link we email you to set a new one."}},
        {"edit_account", "ACCOUNT",
         {"how do I change my email address", "I want to update my phone number", "can I change my account name",
          "how do I edit my profile details", "update the personal information on my {account} account"},
         {"You can update your details under Settings > Profile; changes to the email address need a confirmation "
          "link."}},
        {"contact_human_agent", "CONTACT",
         {"I want to talk to a real person", "connect me with a human agent", "can I speak to someone",
          "get me a customer service representative", "is there a person I can chat with about order {order}"},
         {"Of course, I'm transferring you to a member of our support team now; the current wait is about "
          "{{Wait Time}}."}},
        {"complaint", "FEEDBACK",
         {"I want to file a complaint", "your service with order {order} was terrible",
          "I'm really unhappy with the {product}", "the delivery driver was rude", "I want to complain about my experience"},
         {"I'm sorry about your experience. I've recorded your complaint and a supervisor will contact you within "
          "24 hours."}},
        {"newsletter_subscription", "SUBSCRIPTION",
         {"I want to subscribe to your newsletter", "unsubscribe me from the newsletter", "stop sending me promotional emails",
          "how do I sign up for deals by email", "I'd like to get updates about the {product}"},
         {"You can manage the newsletter under Settings > Notifications: switch it on to get offers or off to stop "
          "them."}},
    };
    return v;
}

const std::vector<std::string> kGreetings = {"", "", "", "hi, ", "hello, ", "hey ", "good morning, ", "hi there, ",
                                             "excuse me, ", "hello! "};
const std::vector<std::string> kClosings = {"", "", "", "", " please", " thanks", ", thank you", " asap",
                                            ", can you help?", " thx", "!"};
const std::vector<std::string> kShopProducts = {"laptop", "phone case", "coffee maker", "jacket", "sofa", "printer",
                                                "smartwatch", "blender", "tablet", "desk", "monitor", "headset",
                                                "vacuum cleaner", "camera", "bike helmet", "lamp", "backpack"};
const std::vector<std::string> kAccounts = {"premium", "standard", "business", "family", "student", "free"};

std::string orderNumber(Rng& rng) {
    switch (rng.below(4)) {
    case 0: return "#" + std::to_string(rng.range(100000, 999999));
    case 1: return "ORD-" + std::to_string(rng.range(10000, 99999));
    case 2: return std::to_string(rng.range(1000000, 9999999));
    default: {
        std::string s = "#";
        s += char('A' + rng.below(26));
        return s + std::to_string(rng.range(10000, 99999));
    }
    }
}

// A typing slip: two neighbouring letters swapped inside one word.
std::string typo(Rng& rng, std::string s) {
    for (int tries = 0; tries < 8; ++tries) {
        size_t i = rng.below(s.size() > 1 ? s.size() - 1 : 1);
        if (std::isalpha(static_cast<unsigned char>(s[i])) && std::isalpha(static_cast<unsigned char>(s[i + 1])) &&
            s[i] != s[i + 1]) {
            std::swap(s[i], s[i + 1]);
            return s;
        }
    }
    return s;
}

json routingSample(Rng& rng) {
    const Intent& it = rng.pick(intents());
    std::string core = fill(rng.pick(it.asks), {{"order", orderNumber(rng)},
                                                {"product", rng.pick(kShopProducts)},
                                                {"account", rng.pick(kAccounts)},
                                                {"n", std::to_string(rng.range(2, 5))}});
    std::string text = rng.pick(kGreetings) + core + rng.pick(kClosings);
    const int style = int(rng.below(10));
    if (style < 4) text = capitalise(text);
    else if (style == 4) std::transform(text.begin(), text.end(), text.begin(), [](char c) { return char(std::toupper(static_cast<unsigned char>(c))); });
    if (rng.chance(12)) text = typo(rng, text);
    if (rng.chance(30) && text.back() != '!' && text.back() != '?')
        text += (core.rfind("how", 0) == 0 || core.rfind("can", 0) == 0 || core.rfind("where", 0) == 0 ||
                 core.rfind("what", 0) == 0 || core.rfind("is ", 0) == 0 || core.rfind("do ", 0) == 0 ||
                 core.rfind("when", 0) == 0 || core.rfind("will", 0) == 0 || core.rfind("are", 0) == 0 ||
                 core.rfind("has", 0) == 0)
                    ? "?"
                    : ".";
    return json{{"instruction", text}, {"intent", it.name}, {"category", it.category}, {"response", rng.pick(it.replies)}};
}

} // namespace

std::vector<json> routingSamples(size_t count, uint64_t seed) {
    return uniqueRows(count, seed, routingSample, [](const json& r) { return r["instruction"].get<std::string>(); },
                      "support-routing");
}

std::vector<std::pair<std::string, std::string>> routingIntents() {
    std::vector<std::pair<std::string, std::string>> out;
    for (const Intent& i : intents()) out.emplace_back(i.name, i.category);
    return out;
}

} // namespace swarm::samples
