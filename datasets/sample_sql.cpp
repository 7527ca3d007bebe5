// The NL->SQL sample: questions about one or two tables, the CREATE TABLE statements as context,
// and the SQL answer (every answer runs in SQLite on the declared tables).
#include "datasets/sample_common.h"
#include "datasets/sample_generators.h"

#include <algorithm>

namespace swarm::samples {

using nlohmann::json;

namespace {

const std::vector<std::string> kCities = {
    "London", "Paris", "Berlin", "Madrid", "Rome", "Amsterdam", "Dublin", "Lisbon", "Vienna", "Prague", "Warsaw",
    "Stockholm", "Oslo", "Helsinki", "Copenhagen", "Zurich", "Brussels", "New York", "Chicago", "Boston",
    "Seattle", "Austin", "Denver", "Toronto", "Vancouver", "Sydney", "Melbourne", "Tokyo", "Osaka", "Seoul",
    "Singapore", "Mumbai", "Cape Town", "Nairobi", "Lagos", "São Paulo", "Mexico City", "Lima", "Santiago"};

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
// Person names for the name columns, built on first use (kFirstNames and kLastNames live in
// another file, so a global built from them could be initialised before them).
const std::vector<std::string>& personNames() {
    static const std::vector<std::string> v = [] {
        std::vector<std::string> names;
        for (size_t i = 0; i < kFirstNames.size(); i += 3)
            for (size_t j = 0; j < kLastNames.size(); j += 5) names.push_back(kFirstNames[i] + " " + kLastNames[j]);
        return names;
    }();
    return v;
}
const std::vector<std::string> kWards = {"Cardiology", "Oncology", "Pediatrics", "Neurology", "Orthopedics",
                                         "Maternity", "Emergency"};


std::vector<Table> makeTables() {
    std::vector<Table> t;
    t.push_back({{"employee", "employees", "staff"}, "employee", "employees",
                 {{"name", "employee_name", "full_name"}, Ty::Text, 0, 0, &personNames()},
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
                 {{"name", "student_name"}, Ty::Text, 0, 0, &personNames()},
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
                 {{{"artist", "artist_name"}, Ty::Text, 0, 0, &personNames()},
                  {{"genre"}, Ty::Text, 0, 0, &kGenres},
                  {{"duration", "length_seconds"}, Ty::Int, 90, 600, nullptr},
                  {{"release_year", "year"}, Ty::Int, 1960, 2024, nullptr},
                  {{"plays", "play_count"}, Ty::Int, 0, 5000000, nullptr}}});
    t.push_back({{"book", "books"}, "book", "books",
                 {{"title", "book_title"}, Ty::Text, 0, 0, &kTitles},
                 {{{"author", "author_name"}, Ty::Text, 0, 0, &personNames()},
                  {{"genre"}, Ty::Text, 0, 0, &kBookGenres},
                  {{"pages", "page_count"}, Ty::Int, 80, 1200, nullptr},
                  {{"published_year", "publication_year"}, Ty::Int, 1900, 2024, nullptr},
                  {{"rating", "avg_rating"}, Ty::Real, 1, 5, nullptr}}});
    t.push_back({{"movie", "movies", "film"}, "movie", "movies",
                 {{"title", "movie_title"}, Ty::Text, 0, 0, &kTitles},
                 {{{"director"}, Ty::Text, 0, 0, &personNames()},
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
                 {{"name", "player_name"}, Ty::Text, 0, 0, &personNames()},
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
                 {{"name", "patient_name"}, Ty::Text, 0, 0, &personNames()},
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
        {"customer", "customer_id", "name", "city", "customer", "customers", "city", &personNames(), &kCities, "orders",
         "order_id", "customer_id", "status", "amount", "order", "orders", "amount", 5, 2000},
        {"artist", "artist_id", "name", "country", "artist", "artists", "country", &personNames(), &kCountries, "song",
         "song_id", "artist_id", "title", "plays", "song", "songs", "number of plays", 0, 5000000},
        {"team", "team_id", "name", "city", "team", "teams", "home city", &kTitles, &kCities, "player", "player_id",
         "team_id", "name", "goals", "player", "players", "goals", 0, 60},
        {"author", "author_id", "name", "nationality", "author", "authors", "nationality", &personNames(), &kCountries,
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

// A single-table question's table, as its CREATE TABLE declares it: the label column (it names a
// row) and a random subset of the other columns (at least two), in a random order.
struct DrawnTable {
    const Table* spec = nullptr;
    std::string name;
    UsedCol label;
    std::vector<UsedCol> cols;
    std::vector<const UsedCol*> nums, texts;   // into cols
    std::string context;
};

DrawnTable drawTable(Rng& rng, const std::vector<Table>& tables) {
    DrawnTable d;
    d.spec = &rng.pick(tables);
    const Table& t = *d.spec;
    d.name = rng.pick(t.names);
    d.label = UsedCol{rng.pick(t.label.names), "", &t.label};
    d.label.phrase = phraseOf(d.label.name);
    std::vector<const Col*> pool;
    for (const Col& c : t.cols) pool.push_back(&c);
    for (size_t i = pool.size(); i > 1; --i) std::swap(pool[i - 1], pool[rng.below(i)]);
    const size_t take = size_t(rng.range(2, int(pool.size())));
    for (size_t i = 0; i < take; ++i) d.cols.push_back(UsedCol{rng.pick(pool[i]->names), "", pool[i]});
    for (UsedCol& c : d.cols) c.phrase = phraseOf(c.name);
    for (const UsedCol& c : d.cols) (c.spec->type == Ty::Text ? d.texts : d.nums).push_back(&c);

    std::vector<UsedCol> all{d.label};
    all.insert(all.end(), d.cols.begin(), d.cols.end());
    d.context = "CREATE TABLE " + d.name + " (";
    for (size_t i = 0; i < all.size(); ++i)
        d.context += (i ? ", " : "") + all[i].name + " " + sqlType(rng, all[i].spec->type);
    d.context += ")";
    return d;
}

// The columns and comparison a question may use, drawn once for every kind.
struct QuestionSlots {
    const UsedCol* num = nullptr;
    const UsedCol* txt = nullptr;
    const Cmp* cmp = nullptr;
};

struct QuestionSql {
    std::string question, sql;
};

// One of `options` with its {slots} filled, capitalised; {S}, {P} and {label} are the table's
// singular, plural and label column.
struct Asker {
    Rng& rng;
    const DrawnTable& d;
    std::string operator()(const std::vector<std::string>& options, std::map<std::string, std::string> v) const {
        v["S"] = d.spec->singular;
        v["P"] = d.spec->plural;
        v["label"] = d.label.phrase;
        return capitalise(fill(rng.pick(options), v));
    }
};

// Kinds 0-1: how many rows, and a column of the row a label names.
QuestionSql rowQuestion(Rng& rng, const DrawnTable& d, int kind) {
    const std::string& table = d.name;
    const UsedCol& label = d.label;
    const Asker f{rng, d};
    const std::vector<UsedCol>& cols = d.cols;
    std::string q, a;
    switch (kind) {
    case 0:
        q = f({"How many {P} are there?", "Count the number of {P}.", "What is the total number of {P}?",
               "How many {P} do we have?", "Tell me how many {P} exist."},
              {});
        a = "SELECT COUNT(*) FROM " + table;
        break;
    default: {
        const std::string v = textValue(rng, *label.spec);
        const UsedCol& other = rng.pick(cols);
        q = f({"What is the {col} of the {S} whose {label} is {v}?", "Find the {col} of {v}.",
               "Show the {col} for the {S} called {v}.", "What {col} does the {S} {v} have?"},
              {{"col", other.phrase}, {"v", v}});
        a = "SELECT " + other.name + " FROM " + table + " WHERE " + label.name + " = " + quoteSql(v);
        break;
    }
    }
    return QuestionSql{q, a};
}

// Kinds 2-7 and 11: filters, orders, aggregates and ranges over a numeric column.
QuestionSql numberQuestion(Rng& rng, const DrawnTable& d, int kind, const QuestionSlots& s) {
    const std::string& table = d.name;
    const UsedCol& label = d.label;
    const Asker f{rng, d};
    const std::vector<UsedCol>& cols = d.cols;
    const std::vector<const UsedCol*>& nums = d.nums;
    const UsedCol* num = s.num;
    const Cmp& cmp = *s.cmp;
    std::string q, a;
    switch (kind) {
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
    default: {
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
    }
    return QuestionSql{q, a};
}

// Kinds 8-10 and 12-14: filters and groups over a text column, alone or with a numeric one.
QuestionSql textQuestion(Rng& rng, const DrawnTable& d, int kind, const QuestionSlots& s) {
    const std::string& table = d.name;
    const UsedCol& label = d.label;
    const Asker f{rng, d};
    const UsedCol* num = s.num;
    const UsedCol* txt = s.txt;
    const Cmp& cmp = *s.cmp;
    std::string q, a;
    switch (kind) {
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
    return QuestionSql{q, a};
}

json singleTableSample(Rng& rng, const std::vector<Table>& tables) {
    const DrawnTable d = drawTable(rng, tables);
    // Question kinds that the chosen columns allow.
    std::vector<int> kinds = {0, 1};
    if (!d.nums.empty()) kinds.insert(kinds.end(), {2, 3, 4, 5, 6, 7, 11});
    if (!d.texts.empty()) kinds.insert(kinds.end(), {8, 9, 10, 12});
    if (!d.nums.empty() && !d.texts.empty()) kinds.insert(kinds.end(), {13, 14});
    const int kind = rng.pick(kinds);
    QuestionSlots s;
    s.num = d.nums.empty() ? nullptr : rng.pick(d.nums);
    s.txt = d.texts.empty() ? nullptr : rng.pick(d.texts);
    s.cmp = &rng.pick(kCmps);
    QuestionSql qa;
    if (kind <= 1) qa = rowQuestion(rng, d, kind);
    else if (kind <= 7 || kind == 11) qa = numberQuestion(rng, d, kind, s);
    else qa = textQuestion(rng, d, kind, s);
    return json{{"question", qa.question}, {"context", d.context}, {"answer", qa.sql}};
}

} // namespace

std::vector<json> sqlSamples(size_t count, uint64_t seed) {
    static const std::vector<Table> tables = makeTables();
    return uniqueRows(
        count, seed, [&](Rng& rng) { return rng.chance(15) ? joinSample(rng) : singleTableSample(rng, tables); },
        [](const json& r) { return r["question"].get<std::string>() + "\n" + r["context"].get<std::string>(); },
        "nl2sql");
}

} // namespace swarm::samples
