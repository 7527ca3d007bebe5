#include "datasets/sample_generators.h"

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/rng.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <set>
#include <unordered_set>

namespace swarm::samples {

using nlohmann::json;

namespace {

// ---------------------------------------------------------------------------------------------
// Deterministic randomness (std distributions differ between standard libraries).

class Rng {
public:
    explicit Rng(uint64_t seed) : mix_(seed * 0x9E3779B97F4A7C15ull + 0x243F6A8885A308D3ull) {}
    uint64_t next() { return mix_.next(); }
    // Modulo, not SplitMix64::below's rejection: the bundled data must stay as it was generated.
    size_t below(size_t n) { return n ? size_t(next() % n) : 0; }
    int range(int lo, int hi) { return lo + int(below(size_t(hi - lo + 1))); }
    bool chance(int percent) { return int(below(100)) < percent; }
    template <class T> const T& pick(const std::vector<T>& v) { return v[below(v.size())]; }

private:
    SplitMix64 mix_;
};

// Replaces {key} by values[key].
std::string fill(const std::string& tmpl, const std::map<std::string, std::string>& values) {
    std::string out;
    for (size_t i = 0; i < tmpl.size();) {
        if (tmpl[i] == '{') {
            size_t close = tmpl.find('}', i);
            if (close != std::string::npos) {
                auto it = values.find(tmpl.substr(i + 1, close - i - 1));
                if (it != values.end()) {
                    out += it->second;
                    i = close + 1;
                    continue;
                }
            }
        }
        out += tmpl[i++];
    }
    return out;
}

std::string capitalise(std::string s) {
    if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = char(s[0] - 32);
    return s;
}

const std::vector<std::string> kFirstNames = {
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth", "William",
    "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen", "Daniel", "Lisa",
    "Matthew", "Nancy", "Anthony", "Sandra", "Mark", "Ashley", "Wei", "Priya", "Ahmed", "Fatima", "Hiroshi",
    "Yuki", "Olga", "Ivan", "Sofia", "Lucas", "Emma", "Noah", "Olivia", "Liam", "Ava", "Mateo", "Chloé", "José",
    "Zoë", "Björn", "Ingrid", "Kwame", "Amara", "Chen", "Mei", "Raj", "Ananya", "Diego", "Lucía", "Omar",
    "Leila", "Sean", "Aoife", "Pierre", "Camille", "Jan", "Anna", "Tomasz", "Katarzyna", "Giulia", "Marco"};
const std::vector<std::string> kLastNames = {
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Thompson",
    "White", "Harris", "Clark", "Lewis", "Walker", "Young", "Allen", "King", "Wright", "Nguyen", "Kim", "Patel",
    "Singh", "Chen", "Wang", "Tanaka", "Sato", "Müller", "Schmidt", "Schneider", "Fischer", "Dubois", "Moreau",
    "Rossi", "Russo", "Kowalski", "Nowak", "Ivanov", "Petrova", "O'Brien", "O'Connor", "Murphy", "Kelly",
    "Jansen", "de Vries", "Andersson", "Johansson", "Okafor", "Mensah", "Haddad", "Khan", "Silva", "Santos"};
const std::vector<std::string> kCities = {
    "London", "Paris", "Berlin", "Madrid", "Rome", "Amsterdam", "Dublin", "Lisbon", "Vienna", "Prague", "Warsaw",
    "Stockholm", "Oslo", "Helsinki", "Copenhagen", "Zurich", "Brussels", "New York", "Chicago", "Boston",
    "Seattle", "Austin", "Denver", "Toronto", "Vancouver", "Sydney", "Melbourne", "Tokyo", "Osaka", "Seoul",
    "Singapore", "Mumbai", "Cape Town", "Nairobi", "Lagos", "São Paulo", "Mexico City", "Lima", "Santiago"};

// =============================================================================================
// NL -> SQL

enum class Ty { Text, Int, Real };

struct Col {
    std::vector<std::string> names;        // name variants
    Ty type;
    int lo = 0, hi = 0;                    // numbers
    const std::vector<std::string>* values = nullptr;   // texts
};

struct Table {
    std::vector<std::string> names;        // table name variants
    std::string singular, plural;
    Col label;                             // the column that names a row
    std::vector<Col> cols;
};

const std::vector<std::string> kDepartments = {"Sales", "Marketing", "Engineering", "Finance", "Legal", "Support",
                                               "Research", "Operations", "Human Resources", "Logistics"};
const std::vector<std::string> kGenres = {"Rock", "Pop", "Jazz", "Classical", "Hip Hop", "Country", "Electronic",
                                          "Blues", "Folk", "Reggae", "Metal", "Soul"};
const std::vector<std::string> kBookGenres = {"Fantasy", "Mystery", "Romance", "Science Fiction", "Biography",
                                              "History", "Poetry", "Thriller", "Horror", "Travel"};
const std::vector<std::string> kMovieGenres = {"Drama", "Comedy", "Action", "Animation", "Documentary", "Thriller",
                                               "Horror", "Romance", "Western", "Musical"};
const std::vector<std::string> kCategories = {"Electronics", "Books", "Toys", "Garden", "Kitchen", "Sports",
                                              "Clothing", "Beauty", "Office", "Automotive"};
const std::vector<std::string> kProducts = {"Desk Lamp", "Coffee Grinder", "Yoga Mat", "Bluetooth Speaker",
                                            "Water Bottle", "Backpack", "Office Chair", "Electric Kettle",
                                            "Running Shoes", "Chess Set", "Garden Hose", "Notebook", "Headphones",
                                            "Toaster", "Blender", "Drone", "Tent", "Umbrella", "Wall Clock"};
const std::vector<std::string> kMajors = {"Biology", "Physics", "History", "Economics", "Mathematics",
                                          "Computer Science", "Chemistry", "Philosophy", "Art", "Linguistics"};
const std::vector<std::string> kAirlines = {"SkyJet", "AeroNord", "BlueWing", "Coastal Air", "Polar Airways",
                                            "SunLine", "Zephyr Air", "Atlas Express"};
const std::vector<std::string> kCuisines = {"Italian", "Japanese", "Mexican", "Indian", "French", "Thai",
                                            "Greek", "Ethiopian", "Korean", "Lebanese"};
const std::vector<std::string> kPositions = {"Goalkeeper", "Defender", "Midfielder", "Forward"};
const std::vector<std::string> kMakes = {"Toyota", "Ford", "Volkswagen", "Honda", "Renault", "Fiat", "Volvo",
                                         "Hyundai", "Kia", "Skoda", "Tesla", "Mazda"};
const std::vector<std::string> kStatuses = {"pending", "shipped", "delivered", "cancelled", "returned"};
const std::vector<std::string> kCountries = {"France", "Germany", "Japan", "Brazil", "Canada", "Nigeria", "India",
                                             "Spain", "Sweden", "Mexico", "Australia", "Ireland"};
const std::vector<std::string> kTitles = {"Silent River", "Golden Hour", "Paper Moon", "Northern Lights",
                                          "Echoes", "Midnight Train", "Blue Horizon", "Wildflower", "Iron Bridge",
                                          "The Last Summer", "Glass City", "Open Road", "Falling Stars",
                                          "Red Canyon", "Quiet Storm", "Harbor Lights", "Winter Garden"};
const std::vector<std::string> kPersonNames = [] {
    std::vector<std::string> v;
    for (size_t i = 0; i < kFirstNames.size(); i += 3)
        for (size_t j = 0; j < kLastNames.size(); j += 5) v.push_back(kFirstNames[i] + " " + kLastNames[j]);
    return v;
}();
const std::vector<std::string> kWards = {"Cardiology", "Oncology", "Pediatrics", "Neurology", "Orthopedics",
                                         "Maternity", "Emergency"};

std::vector<Table> makeTables() {
    std::vector<Table> t;
    t.push_back({{"employee", "employees", "staff"}, "employee", "employees",
                 {{"name", "employee_name", "full_name"}, Ty::Text, 0, 0, &kPersonNames},
                 {{{"department", "dept"}, Ty::Text, 0, 0, &kDepartments},
                  {{"salary", "annual_salary"}, Ty::Int, 30000, 160000, nullptr},
                  {{"age"}, Ty::Int, 20, 66, nullptr},
                  {{"hire_year", "year_hired"}, Ty::Int, 1990, 2024, nullptr},
                  {{"city", "office_city"}, Ty::Text, 0, 0, &kCities}}});
    t.push_back({{"product", "products", "item"}, "product", "products",
                 {{"name", "product_name"}, Ty::Text, 0, 0, &kProducts},
                 {{{"category"}, Ty::Text, 0, 0, &kCategories},
                  {{"price", "unit_price"}, Ty::Real, 2, 900, nullptr},
                  {{"stock", "quantity_in_stock"}, Ty::Int, 0, 500, nullptr},
                  {{"rating"}, Ty::Real, 1, 5, nullptr}}});
    t.push_back({{"student", "students"}, "student", "students",
                 {{"name", "student_name"}, Ty::Text, 0, 0, &kPersonNames},
                 {{{"major"}, Ty::Text, 0, 0, &kMajors},
                  {{"gpa"}, Ty::Real, 1, 4, nullptr},
                  {{"age"}, Ty::Int, 17, 35, nullptr},
                  {{"enrollment_year", "year_enrolled"}, Ty::Int, 2010, 2024, nullptr},
                  {{"hometown", "home_city"}, Ty::Text, 0, 0, &kCities}}});
    t.push_back({{"flight", "flights"}, "flight", "flights",
                 {{"flight_number", "flight_code"}, Ty::Text, 0, 0, nullptr},
                 {{{"origin", "departure_city"}, Ty::Text, 0, 0, &kCities},
                  {{"destination", "arrival_city"}, Ty::Text, 0, 0, &kCities},
                  {{"airline", "carrier"}, Ty::Text, 0, 0, &kAirlines},
                  {{"duration", "duration_minutes"}, Ty::Int, 45, 900, nullptr},
                  {{"price", "fare"}, Ty::Int, 40, 2500, nullptr}}});
    t.push_back({{"song", "songs", "track"}, "song", "songs",
                 {{"title", "song_title"}, Ty::Text, 0, 0, &kTitles},
                 {{{"artist", "artist_name"}, Ty::Text, 0, 0, &kPersonNames},
                  {{"genre"}, Ty::Text, 0, 0, &kGenres},
                  {{"duration", "length_seconds"}, Ty::Int, 90, 600, nullptr},
                  {{"release_year", "year"}, Ty::Int, 1960, 2024, nullptr},
                  {{"plays", "play_count"}, Ty::Int, 0, 5000000, nullptr}}});
    t.push_back({{"book", "books"}, "book", "books",
                 {{"title", "book_title"}, Ty::Text, 0, 0, &kTitles},
                 {{{"author", "author_name"}, Ty::Text, 0, 0, &kPersonNames},
                  {{"genre"}, Ty::Text, 0, 0, &kBookGenres},
                  {{"pages", "page_count"}, Ty::Int, 80, 1200, nullptr},
                  {{"published_year", "publication_year"}, Ty::Int, 1900, 2024, nullptr},
                  {{"rating", "avg_rating"}, Ty::Real, 1, 5, nullptr}}});
    t.push_back({{"movie", "movies", "film"}, "movie", "movies",
                 {{"title", "movie_title"}, Ty::Text, 0, 0, &kTitles},
                 {{{"director"}, Ty::Text, 0, 0, &kPersonNames},
                  {{"genre"}, Ty::Text, 0, 0, &kMovieGenres},
                  {{"release_year", "year"}, Ty::Int, 1950, 2024, nullptr},
                  {{"budget", "budget_millions"}, Ty::Int, 1, 300, nullptr},
                  {{"rating", "score"}, Ty::Real, 1, 10, nullptr}}});
    t.push_back({{"restaurant", "restaurants"}, "restaurant", "restaurants",
                 {{"name", "restaurant_name"}, Ty::Text, 0, 0, &kTitles},
                 {{{"city", "location"}, Ty::Text, 0, 0, &kCities},
                  {{"cuisine", "cuisine_type"}, Ty::Text, 0, 0, &kCuisines},
                  {{"rating", "stars"}, Ty::Real, 1, 5, nullptr},
                  {{"seats", "capacity"}, Ty::Int, 10, 300, nullptr}}});
    t.push_back({{"player", "players"}, "player", "players",
                 {{"name", "player_name"}, Ty::Text, 0, 0, &kPersonNames},
                 {{{"position"}, Ty::Text, 0, 0, &kPositions},
                  {{"goals", "goals_scored"}, Ty::Int, 0, 60, nullptr},
                  {{"age"}, Ty::Int, 16, 40, nullptr},
                  {{"nationality", "country"}, Ty::Text, 0, 0, &kCountries}}});
    t.push_back({{"car", "cars", "vehicle"}, "car", "cars",
                 {{"model", "model_name"}, Ty::Text, 0, 0, &kTitles},
                 {{{"make", "manufacturer"}, Ty::Text, 0, 0, &kMakes},
                  {{"year", "model_year"}, Ty::Int, 1995, 2024, nullptr},
                  {{"price", "list_price"}, Ty::Int, 3000, 90000, nullptr},
                  {{"mileage", "odometer_km"}, Ty::Int, 0, 300000, nullptr}}});
    t.push_back({{"patient", "patients"}, "patient", "patients",
                 {{"name", "patient_name"}, Ty::Text, 0, 0, &kPersonNames},
                 {{{"ward"}, Ty::Text, 0, 0, &kWards},
                  {{"age"}, Ty::Int, 0, 100, nullptr},
                  {{"admission_year", "year_admitted"}, Ty::Int, 2000, 2024, nullptr},
                  {{"room_number", "room"}, Ty::Int, 1, 500, nullptr}}});
    t.push_back({{"stadium", "stadiums", "venue"}, "stadium", "stadiums",
                 {{"name", "stadium_name"}, Ty::Text, 0, 0, &kTitles},
                 {{{"city"}, Ty::Text, 0, 0, &kCities},
                  {{"capacity"}, Ty::Int, 5000, 100000, nullptr},
                  {{"opened_year", "year_opened"}, Ty::Int, 1900, 2023, nullptr}}});
    return t;
}

struct UsedCol {
    std::string name;      // SQL name
    std::string phrase;    // in questions
    const Col* spec;
};

std::string phraseOf(const std::string& name) {
    std::string p = name;
    std::replace(p.begin(), p.end(), '_', ' ');
    if (p == "gpa") return "GPA";
    return p;
}

std::string sqlType(Rng& rng, Ty t) {
    switch (t) {
    case Ty::Text: return rng.chance(70) ? "VARCHAR" : "TEXT";
    case Ty::Int: return rng.chance(70) ? "INTEGER" : "INT";
    case Ty::Real: return rng.chance(60) ? "REAL" : "DECIMAL";
    }
    return "TEXT";
}

std::string quoteSql(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        out += c;
        if (c == '\'') out += '\'';
    }
    return out + "'";
}

std::string flightCode(Rng& rng) {
    std::string s;
    s += char('A' + rng.below(26));
    s += char('A' + rng.below(26));
    return s + std::to_string(rng.range(100, 9999));
}

std::string textValue(Rng& rng, const Col& c) {
    if (c.values) return rng.pick(*c.values);
    return flightCode(rng);
}

std::string numValue(Rng& rng, const Col& c) {
    if (c.type == Ty::Real) {
        int tenths = rng.range(c.lo * 10, c.hi * 10);
        return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10);
    }
    // Round numbers read more naturally for large ranges.
    int v = rng.range(c.lo, c.hi);
    if (c.hi - c.lo > 5000) v = v / 1000 * 1000;
    else if (c.hi - c.lo > 500) v = v / 10 * 10;
    return std::to_string(v);
}

struct Cmp {
    const char* op;
    std::vector<std::string> words;
};
const std::vector<Cmp> kCmps = {
    {">", {"greater than", "more than", "above", "over", "larger than"}},
    {"<", {"less than", "below", "under", "smaller than", "lower than"}},
    {">=", {"at least", "no less than", "greater than or equal to"}},
    {"<=", {"at most", "no more than", "less than or equal to"}},
};

struct Join {
    std::string parentTable, parentId, parentLabel, parentAttr;   // e.g. departments, department_id, name, location
    std::string parentSingular, parentPlural, parentAttrPhrase;
    const std::vector<std::string>* labelValues;
    const std::vector<std::string>* attrValues;
    std::string childTable, childId, childFk, childLabel, childNum;
    std::string childSingular, childPlural, childNumPhrase;
    int numLo, numHi;
};

const std::vector<Join>& joins() {
    static const std::vector<Join> j = {
        {"department", "department_id", "name", "location", "department", "departments", "location", &kDepartments,
         &kCities, "employee", "employee_id", "department_id", "name", "salary", "employee", "employees", "salary",
         30000, 160000},
        {"customer", "customer_id", "name", "city", "customer", "customers", "city", &kPersonNames, &kCities, "orders",
         "order_id", "customer_id", "status", "amount", "order", "orders", "amount", 5, 2000},
        {"artist", "artist_id", "name", "country", "artist", "artists", "country", &kPersonNames, &kCountries, "song",
         "song_id", "artist_id", "title", "plays", "song", "songs", "number of plays", 0, 5000000},
        {"team", "team_id", "name", "city", "team", "teams", "home city", &kTitles, &kCities, "player", "player_id",
         "team_id", "name", "goals", "player", "players", "goals", 0, 60},
        {"author", "author_id", "name", "nationality", "author", "authors", "nationality", &kPersonNames, &kCountries,
         "book", "book_id", "author_id", "title", "pages", "book", "books", "page count", 80, 1200},
    };
    return j;
}

json joinSample(Rng& rng) {
    const Join& j = rng.pick(joins());
    std::string context = "CREATE TABLE " + j.parentTable + " (" + j.parentId + " INTEGER, " + j.parentLabel +
                          " VARCHAR, " + j.parentAttr + " VARCHAR); CREATE TABLE " + j.childTable + " (" + j.childId +
                          " INTEGER, " + j.childFk + " INTEGER, " + j.childLabel + " VARCHAR, " + j.childNum +
                          " INTEGER)";
    const std::string on = " FROM " + j.childTable + " AS T1 JOIN " + j.parentTable + " AS T2 ON T1." + j.childFk +
                           " = T2." + j.parentId;
    std::string question, answer;
    const std::string label = rng.pick(*j.labelValues);
    const std::string attr = rng.pick(*j.attrValues);
    Col numCol{{j.childNum}, Ty::Int, j.numLo, j.numHi, nullptr};
    const std::string num = numValue(rng, numCol);
    switch (rng.below(6)) {
    case 0:
        question = fill(rng.pick(std::vector<std::string>{
                            "List the {clabel} of all {cplural} that belong to the {psing} named {label}.",
                            "What are the {clabel}s of the {cplural} of {psing} {label}?",
                            "Show the {clabel} of every {csing} whose {psing} is {label}."}),
                        {{"clabel", phraseOf(j.childLabel)}, {"cplural", j.childPlural}, {"psing", j.parentSingular},
                         {"label", label}});
        answer = "SELECT T1." + j.childLabel + on + " WHERE T2." + j.parentLabel + " = " + quoteSql(label);
        break;
    case 1:
        question = fill(rng.pick(std::vector<std::string>{
                            "How many {cplural} belong to {pplural} whose {attrp} is {attr}?",
                            "Count the {cplural} of {pplural} with {attrp} {attr}.",
                            "What is the number of {cplural} linked to a {psing} in {attr}?"}),
                        {{"cplural", j.childPlural}, {"pplural", j.parentPlural}, {"psing", j.parentSingular},
                         {"attrp", j.parentAttrPhrase}, {"attr", attr}});
        answer = "SELECT COUNT(*)" + on + " WHERE T2." + j.parentAttr + " = " + quoteSql(attr);
        break;
    case 2:
        question = fill(rng.pick(std::vector<std::string>{
                            "Which {psing} has the most {cplural}? Give its {plabel}.",
                            "What is the {plabel} of the {psing} with the largest number of {cplural}?",
                            "Name the {psing} that has the highest count of {cplural}."}),
                        {{"psing", j.parentSingular}, {"cplural", j.childPlural}, {"plabel", phraseOf(j.parentLabel)}});
        answer = "SELECT T2." + j.parentLabel + on + " GROUP BY T1." + j.childFk + " ORDER BY COUNT(*) DESC LIMIT 1";
        break;
    case 3:
        question = fill(rng.pick(std::vector<std::string>{
                            "What is the total {num} of the {cplural} of the {psing} {label}?",
                            "Give the sum of {num} over all {cplural} of {psing} {label}."}),
                        {{"num", j.childNumPhrase}, {"cplural", j.childPlural}, {"psing", j.parentSingular},
                         {"label", label}});
        answer = "SELECT SUM(T1." + j.childNum + ")" + on + " WHERE T2." + j.parentLabel + " = " + quoteSql(label);
        break;
    case 4:
        question = fill(rng.pick(std::vector<std::string>{
                            "Find the {plabel} of {pplural} that have a {csing} with {num} above {v}.",
                            "Which {pplural} have at least one {csing} whose {num} exceeds {v}? List their {plabel}s."}),
                        {{"plabel", phraseOf(j.parentLabel)}, {"pplural", j.parentPlural}, {"csing", j.childSingular},
                         {"num", j.childNumPhrase}, {"v", num}});
        answer = "SELECT DISTINCT T2." + j.parentLabel + on + " WHERE T1." + j.childNum + " > " + num;
        break;
    default:
        question = fill(rng.pick(std::vector<std::string>{
                            "For each {psing}, show its {plabel} and the average {num} of its {cplural}.",
                            "What is the average {num} of {cplural} per {psing}? Show the {psing} {plabel} too."}),
                        {{"psing", j.parentSingular}, {"plabel", phraseOf(j.parentLabel)}, {"num", j.childNumPhrase},
                         {"cplural", j.childPlural}});
        answer = "SELECT T2." + j.parentLabel + ", AVG(T1." + j.childNum + ")" + on + " GROUP BY T2." + j.parentLabel;
        break;
    }
    return json{{"question", question}, {"context", context}, {"answer", answer}};
}

json singleTableSample(Rng& rng, const std::vector<Table>& tables) {
    const Table& t = rng.pick(tables);
    const std::string table = rng.pick(t.names);
    UsedCol label{rng.pick(t.label.names), "", &t.label};
    label.phrase = phraseOf(label.name);
    // A random subset of the other columns (at least two), in a random order.
    std::vector<const Col*> pool;
    for (const Col& c : t.cols) pool.push_back(&c);
    for (size_t i = pool.size(); i > 1; --i) std::swap(pool[i - 1], pool[rng.below(i)]);
    const size_t take = size_t(rng.range(2, int(pool.size())));
    std::vector<UsedCol> cols;
    for (size_t i = 0; i < take; ++i) cols.push_back(UsedCol{rng.pick(pool[i]->names), "", pool[i]});
    for (UsedCol& c : cols) c.phrase = phraseOf(c.name);
    std::vector<const UsedCol*> nums, texts;
    for (const UsedCol& c : cols) (c.spec->type == Ty::Text ? texts : nums).push_back(&c);

    std::vector<UsedCol> all{label};
    all.insert(all.end(), cols.begin(), cols.end());
    std::string context = "CREATE TABLE " + table + " (";
    for (size_t i = 0; i < all.size(); ++i)
        context += (i ? ", " : "") + all[i].name + " " + sqlType(rng, all[i].spec->type);
    context += ")";

    const std::string S = t.singular, P = t.plural;
    std::string q, a;
    // Question kinds that the chosen columns allow.
    std::vector<int> kinds = {0, 1};
    if (!nums.empty()) kinds.insert(kinds.end(), {2, 3, 4, 5, 6, 7, 11});
    if (!texts.empty()) kinds.insert(kinds.end(), {8, 9, 10, 12});
    if (!nums.empty() && !texts.empty()) kinds.insert(kinds.end(), {13, 14});
    const int kind = rng.pick(kinds);
    const UsedCol* num = nums.empty() ? nullptr : rng.pick(nums);
    const UsedCol* txt = texts.empty() ? nullptr : rng.pick(texts);
    const Cmp& cmp = rng.pick(kCmps);
    auto f = [&](std::vector<std::string> options, std::map<std::string, std::string> v) {
        v["S"] = S;
        v["P"] = P;
        v["label"] = label.phrase;
        return capitalise(fill(rng.pick(options), v));
    };
    switch (kind) {
    case 0:
        q = f({"How many {P} are there?", "Count the number of {P}.", "What is the total number of {P}?",
               "How many {P} do we have?", "Tell me how many {P} exist."},
              {});
        a = "SELECT COUNT(*) FROM " + table;
        break;
    case 1: {
        const std::string v = textValue(rng, *label.spec);
        const UsedCol& other = rng.pick(cols);
        q = f({"What is the {col} of the {S} whose {label} is {v}?", "Find the {col} of {v}.",
               "Show the {col} for the {S} called {v}.", "What {col} does the {S} {v} have?"},
              {{"col", other.phrase}, {"v", v}});
        a = "SELECT " + other.name + " FROM " + table + " WHERE " + label.name + " = " + quoteSql(v);
        break;
    }
    case 2: {
        const std::string v = numValue(rng, *num->spec);
        const std::string w = rng.pick(cmp.words);
        q = f({"How many {P} have a {num} {cmp} {v}?", "Count the {P} whose {num} is {cmp} {v}.",
               "What is the number of {P} with {num} {cmp} {v}?"},
              {{"num", num->phrase}, {"cmp", w}, {"v", v}});
        a = "SELECT COUNT(*) FROM " + table + " WHERE " + num->name + " " + cmp.op + " " + v;
        break;
    }
    case 3: {
        const std::string v = numValue(rng, *num->spec);
        const std::string w = rng.pick(cmp.words);
        q = f({"List the {label} of {P} with {num} {cmp} {v}.", "Which {P} have a {num} {cmp} {v}? Give their {label}.",
               "Show the {label} of all {P} whose {num} is {cmp} {v}."},
              {{"num", num->phrase}, {"cmp", w}, {"v", v}});
        a = "SELECT " + label.name + " FROM " + table + " WHERE " + num->name + " " + cmp.op + " " + v;
        break;
    }
    case 4: {
        const bool desc = rng.chance(50);
        q = f({desc ? "List the {label} of all {P} ordered by {num} in descending order."
                    : "List the {label} of all {P} ordered by {num} in ascending order.",
               desc ? "Show every {S}'s {label}, sorted by {num} from highest to lowest."
                    : "Show every {S}'s {label}, sorted by {num} from lowest to highest.",
               desc ? "Give the {label} and {num} of {P}, largest {num} first."
                    : "Give the {label} and {num} of {P}, smallest {num} first."},
              {{"num", num->phrase}});
        const bool both = q.find(" and " + num->phrase) != std::string::npos;
        a = "SELECT " + label.name + (both ? ", " + num->name : "") + " FROM " + table + " ORDER BY " + num->name +
            (desc ? " DESC" : " ASC");
        break;
    }
    case 5: {
        const bool most = rng.chance(50);
        q = f({most ? "Which {S} has the highest {num}?" : "Which {S} has the lowest {num}?",
               most ? "What is the {label} of the {S} with the largest {num}?"
                    : "What is the {label} of the {S} with the smallest {num}?",
               most ? "Name the {S} with the greatest {num}." : "Name the {S} with the least {num}."},
              {{"num", num->phrase}});
        a = "SELECT " + label.name + " FROM " + table + " ORDER BY " + num->name + (most ? " DESC" : " ASC") + " LIMIT 1";
        break;
    }
    case 6: {
        static const std::vector<std::pair<std::string, std::vector<std::string>>> aggs = {
            {"AVG", {"average", "mean"}}, {"MAX", {"maximum", "highest"}}, {"MIN", {"minimum", "lowest"}},
            {"SUM", {"total", "sum of the"}}};
        const auto& ag = rng.pick(aggs);
        q = f({"What is the {agg} {num} of all {P}?", "Find the {agg} {num} across {P}.",
               "Tell me the {agg} {num} of the {P}."},
              {{"agg", rng.pick(ag.second)}, {"num", num->phrase}});
        a = "SELECT " + ag.first + "(" + num->name + ") FROM " + table;
        break;
    }
    case 7: {
        const UsedCol* num2 = rng.pick(nums);
        const std::string lo = numValue(rng, *num2->spec), hi = numValue(rng, *num2->spec);
        const bool loFirst = std::stod(lo) <= std::stod(hi);
        const std::string a1 = loFirst ? lo : hi, a2 = loFirst ? hi : lo;
        q = f({"How many {P} have a {num} between {a} and {b}?", "List the {label} of {P} whose {num} is between {a} and {b}."},
              {{"num", num2->phrase}, {"a", a1}, {"b", a2}});
        a = (q.rfind("How many", 0) == 0 ? "SELECT COUNT(*) FROM " : "SELECT " + label.name + " FROM ") + table +
            " WHERE " + num2->name + " BETWEEN " + a1 + " AND " + a2;
        break;
    }
    case 8: {
        const std::string v = textValue(rng, *txt->spec);
        q = f({"How many {P} have {txt} {v}?", "Count the {P} whose {txt} is {v}.", "How many {P} are there with {txt} {v}?"},
              {{"txt", txt->phrase}, {"v", v}});
        a = "SELECT COUNT(*) FROM " + table + " WHERE " + txt->name + " = " + quoteSql(v);
        break;
    }
    case 9: {
        const std::string v = textValue(rng, *txt->spec);
        q = f({"List the {label} of {P} whose {txt} is {v}.", "Which {P} have {txt} {v}?", "Show all {P} with {txt} {v}."},
              {{"txt", txt->phrase}, {"v", v}});
        a = "SELECT " + label.name + " FROM " + table + " WHERE " + txt->name + " = " + quoteSql(v);
        break;
    }
    case 10:
        q = f({"How many {P} are there for each {txt}?", "Count the {P} in each {txt}.", "Show each {txt} and its number of {P}."},
              {{"txt", txt->phrase}});
        a = "SELECT " + txt->name + ", COUNT(*) FROM " + table + " GROUP BY " + txt->name;
        break;
    case 11: {
        const UsedCol& other = rng.pick(cols);
        if (&other == num || other.spec->type == Ty::Text) {
            q = f({"What are the distinct {num} values of {P}?", "List the different {num}s of the {P}."}, {{"num", num->phrase}});
            a = "SELECT DISTINCT " + num->name + " FROM " + table;
        } else {
            q = f({"Show the {a} and {b} of every {S}.", "List each {S}'s {a} and {b}."}, {{"a", num->phrase}, {"b", other.phrase}});
            a = "SELECT " + num->name + ", " + other.name + " FROM " + table;
        }
        break;
    }
    case 12: {
        const int n = rng.range(2, 6);
        q = f({"Which {txt} values have more than {n} {P}?", "List the {txt}s that appear for more than {n} {P}."},
              {{"txt", txt->phrase}, {"n", std::to_string(n)}});
        a = "SELECT " + txt->name + " FROM " + table + " GROUP BY " + txt->name + " HAVING COUNT(*) > " + std::to_string(n);
        break;
    }
    case 13: {
        const std::string v = textValue(rng, *txt->spec);
        static const std::vector<std::pair<std::string, std::string>> aggs = {
            {"AVG", "average"}, {"MAX", "highest"}, {"MIN", "lowest"}, {"SUM", "total"}};
        const auto& ag = rng.pick(aggs);
        q = f({"What is the {agg} {num} of {P} with {txt} {v}?", "Find the {agg} {num} among {P} whose {txt} is {v}."},
              {{"agg", ag.second}, {"num", num->phrase}, {"txt", txt->phrase}, {"v", v}});
        a = "SELECT " + ag.first + "(" + num->name + ") FROM " + table + " WHERE " + txt->name + " = " + quoteSql(v);
        break;
    }
    default: {
        const std::string v = textValue(rng, *txt->spec), n = numValue(rng, *num->spec);
        const std::string w = rng.pick(cmp.words);
        q = f({"List the {label} of {P} whose {txt} is {v} and whose {num} is {cmp} {n}.",
               "Which {P} have {txt} {v} and a {num} {cmp} {n}?"},
              {{"txt", txt->phrase}, {"v", v}, {"num", num->phrase}, {"cmp", w}, {"n", n}});
        a = "SELECT " + label.name + " FROM " + table + " WHERE " + txt->name + " = " + quoteSql(v) + " AND " +
            num->name + " " + cmp.op + " " + n;
        break;
    }
    }
    return json{{"question", q}, {"context", context}, {"answer", a}};
}

// =============================================================================================
// Customer-support intent routing

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

// =============================================================================================
// PII masking

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

// Draws `count` rows whose key (the prompt fields) is unique.
template <class Gen, class Key>
std::vector<json> uniqueRows(size_t count, uint64_t seed, Gen gen, Key key, const char* what) {
    Rng rng(seed);
    std::vector<json> rows;
    rows.reserve(count);
    std::unordered_set<std::string> seen;
    size_t attempts = 0;
    while (rows.size() < count) {
        if (++attempts > count * 50 + 1000)
            throw Error(std::string("sample generator '") + what + "' cannot produce " + std::to_string(count) +
                        " distinct rows");
        json row = gen(rng);
        if (seen.insert(key(row)).second) rows.push_back(std::move(row));
    }
    return rows;
}

} // namespace

std::vector<json> sqlSamples(size_t count, uint64_t seed) {
    static const std::vector<Table> tables = makeTables();
    return uniqueRows(
        count, seed, [&](Rng& rng) { return rng.chance(15) ? joinSample(rng) : singleTableSample(rng, tables); },
        [](const json& r) { return r["question"].get<std::string>() + "\n" + r["context"].get<std::string>(); },
        "nl2sql");
}

std::vector<json> routingSamples(size_t count, uint64_t seed) {
    return uniqueRows(count, seed, routingSample, [](const json& r) { return r["instruction"].get<std::string>(); },
                      "support-routing");
}

std::vector<json> piiSamples(size_t count, uint64_t seed) {
    return uniqueRows(count, seed, piiSample, [](const json& r) { return r["source_text"].get<std::string>(); },
                      "pii-masking");
}

std::vector<std::pair<std::string, std::string>> routingIntents() {
    std::vector<std::pair<std::string, std::string>> out;
    for (const Intent& i : intents()) out.emplace_back(i.name, i.category);
    return out;
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

void writeJsonl(const std::string& path, const std::vector<json>& rows) {
    AtomicFile f(path);
    std::string buf;
    for (const json& r : rows) {
        buf += r.dump();
        buf += '\n';
        if (buf.size() > (1 << 20)) {
            f.write(buf);
            buf.clear();
        }
    }
    f.write(buf);
    f.commit();
}

std::vector<SampleFile> writeSampleDatasets(const std::string& dir, size_t count) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw Error("cannot create " + dir + ": " + ec.message());
    std::vector<SampleFile> out;
    writeJsonl(dir + "/nl2sql.jsonl", sqlSamples(count));
    out.push_back({"nl2sql.jsonl", "sql", count});
    writeJsonl(dir + "/support-routing.jsonl", routingSamples(count));
    out.push_back({"support-routing.jsonl", "router", count});
    writeJsonl(dir + "/pii-masking.jsonl", piiSamples(count));
    out.push_back({"pii-masking.jsonl", "pii", count});
    return out;
}

} // namespace swarm::samples
