// The PII-masking sample: short texts with names, emails, phones, addresses and IBANs, the same
// text with typed placeholders, and the span of every value.
#include "datasets/sample_common.h"
#include "datasets/sample_generators.h"

#include <cctype>

namespace swarm::samples {

using nlohmann::json;

namespace {

size_t codePoints(const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s)
        if ((c & 0xC0) != 0x80) ++n;
    return n;
}

std::string ibanFor(Rng& rng) {
    struct Country {
        const char* code;
        int length;        // total IBAN length
        int letters;       // leading letters of the BBAN (bank code)
    };
    static const std::vector<Country> countries = {{"DE", 22, 0}, {"GB", 22, 4}, {"FR", 27, 0}, {"NL", 18, 4},
                                                   {"ES", 24, 0}, {"IT", 27, 1}, {"BE", 16, 0}, {"AT", 20, 0},
                                                   {"IE", 22, 4}, {"PL", 28, 0}, {"CH", 21, 0}};
    const Country& c = rng.pick(countries);
    std::string bban;
    for (int i = 0; i < c.length - 4; ++i)
        bban += i < c.letters ? char('A' + rng.below(26)) : char('0' + rng.below(10));
    // Check digits: 98 - (BBAN + country + "00") mod 97, letters as 10..35.
    std::string rearranged = bban + c.code + "00";
    int mod = 0;
    for (char ch : rearranged) {
        if (ch >= 'A' && ch <= 'Z') mod = (mod * 100 + (ch - 'A' + 10)) % 97;
        else mod = (mod * 10 + (ch - '0')) % 97;
    }
    const int check = 98 - mod;
    std::string iban = std::string(c.code) + (check < 10 ? "0" : "") + std::to_string(check) + bban;
    if (rng.chance(50)) {
        std::string grouped;
        for (size_t i = 0; i < iban.size(); ++i) {
            if (i && i % 4 == 0) grouped += ' ';
            grouped += iban[i];
        }
        return grouped;
    }
    return iban;
}

std::string asciiLower(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            if (std::isalpha(c)) out += char(std::tolower(c));
            continue;
        }
        // Common accented letters to their base letter; other non-ASCII bytes are dropped.
        if (c == 0xC3 && i + 1 < s.size()) {
            unsigned char d = static_cast<unsigned char>(s[++i]);
            const char* map = "aaaaaaaceeeeiiiidnooooo/ouuuuyby";   // 0xA0..0xBF (lowercase block)
            if (d >= 0xA0) out += map[d - 0xA0];
            else if (d >= 0x80 && d < 0xA0) out += char(std::tolower(static_cast<unsigned char>(map[d - 0x80])));
        }
    }
    return out;
}

const std::vector<std::string> kMailDomains = {"example.com", "example.org", "mail.example.net", "inbox.test",
                                               "post.example", "webmail.example.com", "corp.example"};

std::string emailFor(Rng& rng, const std::string& first, const std::string& last) {
    std::string f = asciiLower(first), l = asciiLower(last);
    std::string local;
    switch (rng.below(5)) {
    case 0: local = f + "." + l; break;
    case 1: local = f.substr(0, 1) + l; break;
    case 2: local = f + l.substr(0, 1) + std::to_string(rng.range(1, 99)); break;
    case 3: local = f + "_" + l; break;
    default: local = l + "." + f + std::to_string(rng.range(1970, 2005)); break;
    }
    return local + "@" + rng.pick(kMailDomains);
}

std::string phoneFor(Rng& rng) {
    auto d = [&](int n) {
        std::string s;
        for (int i = 0; i < n; ++i) s += char('0' + rng.below(10));
        return s;
    };
    switch (rng.below(7)) {
    case 0: return "+1 (" + std::to_string(rng.range(201, 989)) + ") 555-" + d(4);
    case 1: return "+44 20 " + d(4) + " " + d(4);
    case 2: return "+49 30 " + d(7);
    case 3: return "(" + std::to_string(rng.range(201, 989)) + ") 555-" + d(4);
    case 4: return "+33 1 " + d(2) + " " + d(2) + " " + d(2) + " " + d(2);
    case 5: return "0" + std::to_string(rng.range(150, 179)) + " " + d(7);
    default: return std::to_string(rng.range(201, 989)) + "-555-" + d(4);
    }
}

std::string addressFor(Rng& rng) {
    static const std::vector<std::string> streets = {"Baker", "Elm", "Maple", "Oak", "High", "Church", "Mill",
                                                     "Station", "Park", "Victoria", "King", "Queen", "Harbour"};
    static const std::vector<std::string> suffixes = {"Street", "Road", "Avenue", "Lane", "Drive", "Way", "Close"};
    static const std::vector<std::string> deStreets = {"Hauptstraße", "Bahnhofstraße", "Gartenweg", "Lindenallee",
                                                       "Schillerstraße", "Bergstraße"};
    static const std::vector<std::string> frStreets = {"Rue de Rivoli", "Avenue Victor Hugo", "Rue des Lilas",
                                                       "Boulevard Voltaire", "Rue du Moulin"};
    static const std::vector<std::pair<std::string, std::string>> usCities = {
        {"Springfield", "IL"}, {"Portland", "OR"}, {"Austin", "TX"}, {"Madison", "WI"}, {"Salem", "MA"},
        {"Boulder", "CO"}};
    static const std::vector<std::string> ukCities = {"London", "Leeds", "Bristol", "York", "Oxford", "Cardiff"};
    static const std::vector<std::string> deCities = {"Berlin", "München", "Köln", "Hamburg", "Leipzig"};
    static const std::vector<std::string> frCities = {"Paris", "Lyon", "Nantes", "Lille", "Toulouse"};
    switch (rng.below(4)) {
    case 0: {
        const auto& c = rng.pick(usCities);
        return std::to_string(rng.range(1, 9999)) + " " + rng.pick(streets) + " " + rng.pick(suffixes) + ", " + c.first +
               ", " + c.second + " " + std::to_string(rng.range(10000, 99999));
    }
    case 1: {
        std::string pc;
        pc += char('A' + rng.below(26));
        pc += char('A' + rng.below(26));
        pc += std::to_string(rng.range(1, 20)) + " " + std::to_string(rng.range(1, 9));
        pc += char('A' + rng.below(26));
        pc += char('A' + rng.below(26));
        return std::to_string(rng.range(1, 300)) + " " + rng.pick(streets) + " " + rng.pick(suffixes) + ", " +
               rng.pick(ukCities) + " " + pc;
    }
    case 2:
        return rng.pick(deStreets) + " " + std::to_string(rng.range(1, 150)) + ", " +
               std::to_string(rng.range(10000, 99999)) + " " + rng.pick(deCities);
    default:
        return std::to_string(rng.range(1, 200)) + " " + rng.pick(frStreets) + ", " +
               std::to_string(rng.range(10, 95)) + std::to_string(rng.range(100, 999)) + " " + rng.pick(frCities);
    }
}

const std::vector<std::string> kPiiTemplates = {
    "Hi, my name is {NAME} and you can reach me at {EMAIL}.",
    "Please call {NAME} back on {PHONE} about the delayed shipment.",
    "Send the contract to {NAME}, {ADDRESS}.",
    "Refund the deposit to IBAN {IBAN}, account holder {NAME}.",
    "{NAME} ({EMAIL}) reported that the invoice was sent to the wrong address.",
    "New customer: {NAME}, phone {PHONE}, email {EMAIL}, living at {ADDRESS}.",
    "Our records show the payment came from {IBAN}.",
    "Could you update my phone number to {PHONE}? Thanks, {NAME}",
    "The parcel for {NAME} should go to {ADDRESS} instead of the office.",
    "I moved to {ADDRESS}; please change it on my account ({EMAIL}).",
    "Dear {NAME}, your appointment is confirmed. We will text {PHONE} a day before.",
    "Wire the salary of {NAME} to {IBAN} starting next month.",
    "Contact person: {NAME} - {PHONE} - {EMAIL}",
    "Please forward this to {EMAIL} and copy {NAME}.",
    "The tenant {NAME} at {ADDRESS} pays rent from account {IBAN}.",
    "Meeting notes: {NAME} and {NAME} agreed to share the draft by Friday.",
    "If the courier can't find {ADDRESS}, they should call {PHONE}.",
    "Hello support, I'm {NAME}. My login email {EMAIL} stopped working.",
    "Reimbursement for {NAME}: transfer 240 EUR to {IBAN}.",
    "Emergency contact for {NAME} is {NAME}, reachable on {PHONE}.",
    "Ship order 4821 to {NAME}, {ADDRESS}, tel. {PHONE}.",
    "Can {NAME} confirm whether {IBAN} is still the right account?",
    "The report was written by {NAME} and reviewed by {NAME}.",
    "Invoice questions go to {EMAIL} or {PHONE} during office hours.",
    "{NAME} lives at {ADDRESS} and works remotely on Tuesdays.",
    "Please remove {EMAIL} from the mailing list; it belongs to {NAME}.",
    "Account holder: {NAME}\nIBAN: {IBAN}\nAddress: {ADDRESS}",
    "Hi {NAME}, thanks for your order! A receipt was sent to {EMAIL}.",
    "Patient {NAME}, phone {PHONE}, was moved to the morning shift.",
    "For the visa form I used {ADDRESS} as my home address and {PHONE} as my number.",
};

json piiSample(Rng& rng) {
    const std::string& tmpl = rng.pick(kPiiTemplates);
    std::string source, target;
    json mask = json::array();
    size_t cp = 0;
    // The record's main person: the first name in the text, and usually the owner of the email.
    const std::string first = rng.pick(kFirstNames), last = rng.pick(kLastNames);
    bool personUsed = false;
    for (size_t i = 0; i < tmpl.size();) {
        if (tmpl[i] == '{') {
            size_t close = tmpl.find('}', i);
            const std::string label = tmpl.substr(i + 1, close - i - 1);
            std::string value;
            if (label == "NAME") {
                const std::string f = personUsed ? rng.pick(kFirstNames) : first;
                const std::string l = personUsed ? rng.pick(kLastNames) : last;
                personUsed = true;
                value = rng.chance(25) ? f : f + " " + l;
            } else if (label == "EMAIL") {
                value = rng.chance(75) ? emailFor(rng, first, last) : emailFor(rng, rng.pick(kFirstNames), rng.pick(kLastNames));
            } else if (label == "PHONE") {
                value = phoneFor(rng);
            } else if (label == "ADDRESS") {
                value = addressFor(rng);
            } else {
                value = ibanFor(rng);
            }
            const size_t len = codePoints(value);
            mask.push_back(json{{"value", value}, {"start", cp}, {"end", cp + len}, {"label", label}});
            source += value;
            target += "[" + label + "]";
            cp += len;
            i = close + 1;
            continue;
        }
        source += tmpl[i];
        target += tmpl[i];
        if ((static_cast<unsigned char>(tmpl[i]) & 0xC0) != 0x80) ++cp;
        ++i;
    }
    return json{{"source_text", source}, {"target_text", target}, {"privacy_mask", mask}};
}

} // namespace

std::vector<json> piiSamples(size_t count, uint64_t seed) {
    return uniqueRows(count, seed, piiSample, [](const json& r) { return r["source_text"].get<std::string>(); },
                      "pii-masking");
}

std::vector<std::string> piiLabels() { return {"NAME", "EMAIL", "PHONE", "ADDRESS", "IBAN"}; }

bool isValidIban(const std::string& text) {
    std::string iban;
    for (char c : text)
        if (c != ' ') iban += c;
    if (iban.size() < 15 || iban.size() > 34) return false;
    if (!std::isupper(static_cast<unsigned char>(iban[0])) || !std::isupper(static_cast<unsigned char>(iban[1])) ||
        !std::isdigit(static_cast<unsigned char>(iban[2])) || !std::isdigit(static_cast<unsigned char>(iban[3])))
        return false;
    const std::string rearranged = iban.substr(4) + iban.substr(0, 4);
    int mod = 0;
    for (char ch : rearranged) {
        if (ch >= 'A' && ch <= 'Z') mod = (mod * 100 + (ch - 'A' + 10)) % 97;
        else if (ch >= '0' && ch <= '9') mod = (mod * 10 + (ch - '0')) % 97;
        else return false;
    }
    return mod == 1;
}

} // namespace swarm::samples
