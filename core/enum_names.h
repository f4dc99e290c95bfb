#pragma once
// The one enum <-> name idiom: each enum with names has a constexpr table of {value, name} rows,
// and these look ups go both ways (to_string, parse_*) and list the names for messages.
#include "core/error.h"

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace routerscope {

template <class E, std::size_t N> using NameTable = std::array<std::pair<E, std::string_view>, N>;

// The name of `value`; "?" for a value without a row.
template <class E, std::size_t N>
constexpr std::string_view name_of(const NameTable<E, N>& table, E value) {
  for (const auto& [v, n] : table)
    if (v == value)
      return n;
  return "?";
}

// The value named `name`, or nullopt.
template <class E, std::size_t N>
constexpr std::optional<E> value_of(const NameTable<E, N>& table, std::string_view name) {
  for (const auto& [v, n] : table)
    if (n == name)
      return v;
  return std::nullopt;
}

// "a, b or c": every name, for a message.
template <class E, std::size_t N> std::string names_list(const NameTable<E, N>& table) {
  std::string out;
  for (std::size_t i = 0; i < N; ++i)
    out += std::string(i == 0 ? "" : (i + 1 == N ? " or " : ", ")) + std::string(table[i].second);
  return out;
}

// The value named `text`, or BadInput "unknown WHAT 'text': expected a, b or c".
template <class E, std::size_t N>
E parse_name(const NameTable<E, N>& table, std::string_view text, std::string_view what) {
  if (auto v = value_of(table, text))
    return *v;
  throw_input_error("unknown " + std::string(what) + " '" + std::string(text) + "': expected " +
                    names_list(table));
}

} // namespace routerscope
