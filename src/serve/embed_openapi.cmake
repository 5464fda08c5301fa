# cmake -DIN=openapi.json -DOUT=openapi_json.cpp -P embed_openapi.cmake
file(READ ${IN} TESSEL_OPENAPI)
file(WRITE ${OUT} "// Generated from src/serve/openapi.json by embed_openapi.cmake.\n"
  "namespace tessel::serve {\nextern const char* const kOpenApiJson;\n"
  "const char* const kOpenApiJson = R\"tessel_openapi(${TESSEL_OPENAPI})tessel_openapi\";\n}\n")
